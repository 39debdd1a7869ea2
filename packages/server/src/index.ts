export { startServer, type RunningServer } from './main.js';
export { loadConfig, type ServerConfig } from './config.js';
