import { render } from 'preact';
import { AppState } from './app-state.js';
import { Root } from './ui/root.js';
import './styles.css';

// One state object; every change re-renders from the root, at most once per frame.
const root = document.getElementById('root')!;
let queued = false;
const app: AppState = new AppState(location.origin, () => {
  if (queued) return;
  queued = true;
  requestAnimationFrame(draw);
});
function draw(): void {
  queued = false;
  render(<Root app={app} />, root);
  // The tab's title counts unread messages, as a person glancing at the tab bar expects.
  const unread = app.phase === 'app' ? app.chats.reduce((n, c) => n + c.unread_count, 0) : 0;
  const title = unread ? `(${unread}) Switchboard` : 'Switchboard';
  if (document.title !== title) document.title = title;
}
// requestAnimationFrame does not run in a hidden tab; a timer makes sure state still lands.
setInterval(() => queued && draw(), 500);
try {
  app.start();
} catch (err) {
  // Never a blank page: say what went wrong.
  root.textContent = `Switchboard could not start: ${err instanceof Error ? err.message : String(err)}`;
}
draw();
