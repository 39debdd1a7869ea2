import { indexedDbStorage, type EncryptedFile, type IndexedDbStorage, type ReactionSummary, type ReplyRef } from '@switchboard/client';

/**
 * What else this device knows of an encrypted message, from inside the ciphertexts: what it
 * answers and mentions, its files (what opens them: the bytes are fetched and decrypted again
 * when shown), its edit and reactions (changes that came as messages of their own), or that it
 * is such a change itself (`change`: not shown as a message).
 */
export interface KeptExtras {
  reply_to?: ReplyRef;
  mentions?: string[];
  files?: EncryptedFile[];
  edited_at?: number;
  reactions?: ReactionSummary[];
  change?: true;
}

export interface Kept {
  text: string;
  extras?: KeptExtras;
}

/** A value with extras starts with this character (which no text typed in the composer does); one without is the bare text. */
const EXTRAS_MARK = '\u0000';

/*
 * The texts of encrypted messages as this device read them. MLS opens a message once (its
 * key is deleted after use: forward secrecy) and a sender cannot open its own, so the text is
 * kept here, in the browser, when it is decrypted or sent: history from the server carries
 * ciphertext only. One IndexedDB database per device, keys "<chat_id>/<message_id>".
 */
export class MessageTexts {
  private constructor(private readonly storage: IndexedDbStorage) {}

  static async open(deviceId: string): Promise<MessageTexts | null> {
    try {
      return new MessageTexts(await indexedDbStorage(`switchboard.texts.${deviceId}`));
    } catch {
      return null; // no IndexedDB here: encrypted messages show as such
    }
  }

  async get(chatId: string, messageId: string): Promise<Kept | undefined> {
    const bytes = await this.storage.get(`${chatId}/${messageId}`);
    if (!bytes) return undefined;
    const value = new TextDecoder().decode(bytes);
    if (!value.startsWith(EXTRAS_MARK)) return { text: value };
    try {
      return JSON.parse(value.slice(EXTRAS_MARK.length)) as Kept;
    } catch {
      return { text: '' };
    }
  }

  put(chatId: string, messageId: string, kept: Kept): Promise<void> {
    const plain = !(kept.extras && Object.keys(kept.extras).length) && !kept.text.startsWith(EXTRAS_MARK);
    const value = plain ? kept.text : EXTRAS_MARK + JSON.stringify(kept);
    return this.storage.put(`${chatId}/${messageId}`, new TextEncoder().encode(value));
  }

  close(): void {
    this.storage.close();
  }
}
