export { startServer, startWorker, type RunningServer, type RunningWorker } from './main.js';
export { loadConfig, type ServerConfig } from './config.js';
export { backupDataDir, restoreDataDir, type BackupSummary } from './backup.js';
