import { indexedDbStorage, type IndexedDbStorage } from '@switchboard/client';

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

  async get(chatId: string, messageId: string): Promise<string | undefined> {
    const bytes = await this.storage.get(`${chatId}/${messageId}`);
    return bytes ? new TextDecoder().decode(bytes) : undefined;
  }

  put(chatId: string, messageId: string, text: string): Promise<void> {
    return this.storage.put(`${chatId}/${messageId}`, new TextEncoder().encode(text));
  }

  close(): void {
    this.storage.close();
  }
}
