import { crc32, deflateSync } from 'node:zlib';

/**
 * A PNG of width x height pixels, all zero, written by hand: a header that says how much
 * memory decoding takes, and a zlib stream of zeros that deflates ~1000:1 (a decompression
 * bomb). `bits` per sample, `colorType` 6 is RGBA (4 samples), 2 is RGB (3); `interlaced` is Adam7.
 */
export function zeroPng(width: number, height: number, opts: { bits: 8 | 16; colorType: 2 | 6; interlaced: boolean }): Buffer {
  const pixelBytes = ((opts.colorType === 6 ? 4 : 3) * opts.bits) / 8;
  // Each scanline is a filter byte and its pixels; Adam7 sends seven smaller images (passes).
  const passes = opts.interlaced
    ? [
        [0, 0, 8, 8],
        [4, 0, 8, 8],
        [0, 4, 4, 8],
        [2, 0, 4, 4],
        [0, 2, 2, 4],
        [1, 0, 2, 2],
        [0, 1, 1, 2],
      ]
    : [[0, 0, 1, 1]];
  let raw = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const w = Math.ceil((width - x0!) / dx!);
    const h = Math.ceil((height - y0!) / dy!);
    if (w > 0 && h > 0) raw += h * (1 + w * pixelBytes);
  }
  const chunk = (type: string, data: Buffer) => {
    const b = Buffer.alloc(12 + data.length);
    b.writeUInt32BE(data.length, 0);
    b.write(type, 4, 'latin1');
    data.copy(b, 8);
    b.writeUInt32BE(crc32(b.subarray(4, 8 + data.length)), 8 + data.length);
    return b;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = opts.bits;
  ihdr[9] = opts.colorType;
  ihdr[12] = opts.interlaced ? 1 : 0;
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(raw), { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
