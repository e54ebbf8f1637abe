import * as vscode from 'vscode';
import { DEFAULT_TASKS_FOLDER } from '../protocol/paths';

export interface Settings {
  tasksFolder: string;
  pollIntervalMs: number;
  interruptGracePeriodMs: number;
  confirmInterrupt: boolean;
  notifications: 'all' | 'failures' | 'off';
}

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration('pausableTasks');
  const folder = c.get<string>('tasksFolder', DEFAULT_TASKS_FOLDER);
  return {
    // A folder name, never a path: nothing outside the workspace folder is read through it.
    tasksFolder: /^[^/\\]+$/.test(folder) && folder !== '..' ? folder : DEFAULT_TASKS_FOLDER,
    pollIntervalMs: Math.max(10, c.get<number>('pollInterval', 100)),
    interruptGracePeriodMs: Math.max(0, c.get<number>('interruptGracePeriod', 3000)),
    confirmInterrupt: c.get<boolean>('confirmInterrupt', true),
    notifications: c.get<Settings['notifications']>('notifications', 'all'),
  };
}
