import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { findMediaTools } from '../core/media-tools.js';

/*
 * Test files for video and PDF previews, made here: videos by ffmpeg itself (lavfi test
 * sources), a PDF by hand (a page with one filled rectangle). The preview tests need
 * ffmpeg, ffprobe and pdftoppm; without them they skip with the reason, unless
 * SWITCHBOARD_REQUIRE_SERVICES=1 (.ci/run installs Debian's ffmpeg and poppler-utils).
 */

const tools = findMediaTools(process.env.PATH ?? '');

/** Why the preview tests cannot run here, or null; throws instead when services are required. */
export function previewToolsMissing(): string | null {
  const absent = Object.entries(tools)
    .filter(([, where]) => !where)
    .map(([name]) => name);
  const reason = absent.length ? `${absent.join(', ')} not on PATH (apt-get install -y ffmpeg poppler-utils)` : null;
  if (reason && process.env.SWITCHBOARD_REQUIRE_SERVICES === '1')
    throw new Error(`${reason}; SWITCHBOARD_REQUIRE_SERVICES=1 requires them`);
  if (reason) console.log(`# skipping the video and PDF preview tests: ${reason}`);
  return reason;
}

/** Runs ffmpeg with `args` (the output file last, written in a temp folder) and answers the file's bytes. */
function ffmpegMake(args: string[], name: string): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-video-'));
  try {
    const out = path.join(dir, name);
    const run = spawnSync(tools.ffmpeg ?? 'ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args, out], { stdio: 'pipe' });
    assert.equal(run.status, 0, `ffmpeg: ${run.stderr}`);
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An H.264 MP4 of the test pattern, `seconds` long at 10 frames a second. */
export function testVideo(width: number, height: number, seconds: number): Buffer {
  return ffmpegMake(
    ['-f', 'lavfi', '-i', `testsrc=size=${width}x${height}:rate=10`, '-t', String(seconds), '-pix_fmt', 'yuv420p', '-c:v', 'libx264'],
    'video.mp4',
  );
}

/** A one-frame MJPEG QuickTime movie of `width` x `height`: a few hundred KB whose frame is too large to decode. */
export async function hugeFrameVideo(width: number, height: number): Promise<Buffer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-video-'));
  try {
    const frame = path.join(dir, 'frame.jpg');
    await sharp({ create: { width, height, channels: 3, background: { r: 20, g: 40, b: 90 } } })
      .jpeg()
      .toFile(frame);
    return ffmpegMake(['-i', frame, '-c:v', 'copy', '-f', 'mov'], 'huge.mov');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A one-page PDF of `width` x `height` points with a blue rectangle on it. */
export function testPdf(width: number, height: number): Buffer {
  const content = `0 0 1 rg 20 20 ${Math.floor(width / 2)} ${Math.floor(height / 2)} re f`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${width} ${height}] /Contents 4 0 R >>`,
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
  ];
  let pdf = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(pdf.length);
    pdf += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = pdf.length;
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) pdf += `${String(o).padStart(10, '0')} 00000 n \n`;
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, 'latin1');
}
