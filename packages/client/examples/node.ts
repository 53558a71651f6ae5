// Node: `node node.js <base> <token> ws` uses the `ws` package (Node >= 20); `builtin` Node 22's global WebSocket.
import WebSocket from 'ws';
import { roomRoundTrip } from './scenario.js';

const [base = '', token = '', which = 'builtin'] = process.argv.slice(2);
const text = await roomRoundTrip({ base, token, ...(which === 'ws' ? { WebSocket } : {}) });
console.log(JSON.stringify({ runtime: `node ${process.version} (${which})`, text }));
