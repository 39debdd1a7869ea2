import type { CreateMediaResponse } from '@switchboard/protocol';
import { SwitchboardHttpError } from './http.js';

/*
 * Media for the SDK (PROTOCOL.md "Media"): upload bytes, then name them in a send's
 * attachments; fetch them through a short-lived URL (works where a token cannot be
 * sent, e.g. an <img src>). Uses the global fetch: browsers and Node 20.
 */

/** What an upload can be made of: a Blob (a browser File, or Node's fs.openAsBlob: streamed, not read into memory) or bytes. */
export type MediaData = Blob | ArrayBuffer | Uint8Array;

export interface UploadOptions {
  contentType: string;
  filename?: string;
}

function sizeOf(data: MediaData): number {
  return data instanceof Blob ? data.size : data.byteLength;
}

async function failed(res: Response, method: string, path: string): Promise<never> {
  const text = await res.text().catch(() => '');
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON: keep the text */
  }
  const code = typeof body === 'object' && body !== null && 'error' in body && typeof body.error === 'string' ? body.error : 'http_error';
  throw new SwitchboardHttpError(res.status, code, body, method, path);
}

/** POST /v1/media, then the bytes to the upload URL it names. Resolves with the media id. */
export async function uploadMedia(baseUrl: string, token: string, data: MediaData, opts: UploadOptions): Promise<string> {
  const created = await fetch(`${baseUrl}/v1/media`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ content_type: opts.contentType, size: sizeOf(data), filename: opts.filename }),
  });
  if (!created.ok) return failed(created, 'POST', '/v1/media');
  const target = (await created.json()) as CreateMediaResponse;
  const body: BodyInit = data instanceof Uint8Array ? new Blob([data as Uint8Array<ArrayBuffer>]) : data;
  const put = await fetch(target.upload_url, { method: target.upload_method, headers: target.upload_headers, body });
  if (!put.ok) return failed(put, target.upload_method, 'upload_url');
  return target.media_id;
}

/** A short-lived URL serving the media (GET /v1/media/{id}/link). */
export async function mediaLink(baseUrl: string, token: string, mediaId: string): Promise<{ url: string; expires_at: number }> {
  const path = `/v1/media/${encodeURIComponent(mediaId)}/link`;
  const res = await fetch(baseUrl + path, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) return failed(res, 'GET', path);
  return (await res.json()) as { url: string; expires_at: number };
}

/** The media's bytes as a streaming Response (read it with .arrayBuffer(), .blob() or .body); `range` asks for part of it. */
export async function downloadMedia(baseUrl: string, token: string, mediaId: string, opts: { range?: string } = {}): Promise<Response> {
  const { url } = await mediaLink(baseUrl, token, mediaId);
  const res = await fetch(url, { headers: opts.range ? { range: opts.range } : {} });
  if (!res.ok) return failed(res, 'GET', `/v1/media/${mediaId}`);
  return res;
}
