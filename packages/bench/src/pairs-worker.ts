import { parentPort } from 'node:worker_threads';
import { createGenerator, type Generator, type GeneratorConfig, type GeneratorEvent } from './pairs-load.js';

/*
 * Entry point of a `pairs` load generator outside the coordinator's thread: a worker
 * thread (parentPort) or a child process (process.send, advanced serialization).
 * Messages in: {t:'init', cfg}, {t:'run', startAt}, {t:'stop'}. Out: GeneratorEvent.
 */

type In = { t: 'init'; cfg: GeneratorConfig } | { t: 'run'; startAt: number } | { t: 'stop' };

const send: (e: GeneratorEvent) => void = parentPort
  ? (e) => parentPort!.postMessage(e)
  : (e) => {
      process.send?.(e);
    };

let gen: Generator | null = null;
let cfg: GeneratorConfig | null = null;

function onMessage(m: In): void {
  if (m.t === 'init') {
    cfg = m.cfg;
    gen = createGenerator(cfg, send);
  } else if (m.t === 'run' && gen && cfg) {
    cfg.startAt = m.startAt;
    gen.run().then(
      (result) => {
        send({ t: 'done', result });
        if (!parentPort) setTimeout(() => process.exit(0), 200);
      },
      (err) => send({ t: 'failed', genIndex: cfg!.genIndex, message: String(err?.stack ?? err) }),
    );
  } else if (m.t === 'stop') {
    gen?.stop();
  }
}

if (parentPort) parentPort.on('message', onMessage);
else process.on('message', (m) => onMessage(m as In));
