import { withoutBidiControls } from '@switchboard/client';
import type { Attachment } from '@switchboard/client';

/**
 * Uploads a file (PROTOCOL.md "Media": POST /v1/media, then the bytes to its upload URL)
 * with XMLHttpRequest, whose upload progress fetch cannot report. Resolves with the
 * attachment as this client shows it until the server's own copy (with a thumbnail) comes.
 */
export async function uploadFile(
  baseUrl: string,
  token: string,
  file: File,
  onProgress: (loaded: number, total: number) => void,
): Promise<Attachment> {
  const contentType = file.type || 'application/octet-stream';
  // The server refuses names with bidirectional controls (a look-alike "invoice\u202Efdp.exe"); this name came from the OS, so drop them.
  const filename = withoutBidiControls(file.name).slice(0, 255);
  const res = await fetch(`${baseUrl}/v1/media`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ content_type: contentType, size: file.size, ...(filename ? { filename } : {}) }),
  });
  if (!res.ok) throw new Error(res.status === 413 ? 'The file is too large for this server.' : `Upload refused (HTTP ${res.status}).`);
  const target = (await res.json()) as {
    media_id: string;
    upload_url: string;
    upload_method: string;
    upload_headers: Record<string, string>;
  };
  await new Promise<void>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(target.upload_method, target.upload_url);
    for (const [k, v] of Object.entries(target.upload_headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(new Error(`Upload failed (HTTP ${xhr.status}).`)));
    xhr.onerror = () => reject(new Error('Upload failed: cannot reach the server.'));
    xhr.send(file);
  });
  onProgress(file.size, file.size);
  return { media_id: target.media_id, content_type: contentType, size: file.size, filename: filename || null };
}
