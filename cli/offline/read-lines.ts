import { closeSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

/**
 * The lines of a file, read in chunks: memory stays bounded by the longest line, not
 * the file (audit trails grow for months). Synchronous because broker-core's
 * verifyChain takes an Iterable. The file is closed when iteration ends or stops.
 */
export function* readLines(path: string, chunkBytes = 64 * 1024): Generator<string, void, undefined> {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(chunkBytes);
    const decoder = new StringDecoder('utf8');
    let pending = '';
    for (;;) {
      const read = readSync(fd, buffer, 0, chunkBytes, null);
      if (read === 0) break;
      pending += decoder.write(buffer.subarray(0, read));
      let newline = pending.indexOf('\n');
      while (newline !== -1) {
        yield pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
      }
    }
    pending += decoder.end();
    if (pending !== '') yield pending;
  } finally {
    closeSync(fd);
  }
}
