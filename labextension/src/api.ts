// Calls to the mlnb server extension (/mlnb/api/...). ServerConnection adds
// Jupyter's token or XSRF header, so the sidebar is under Jupyter's own auth.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IVersion {
  name: string;
  state: string;
  framework: string | null;
  isDefault: boolean;
  createTime: string | null;
  description: string;
  errorMessage: string | null;
}

export interface IModel {
  name: string;
  description: string;
  defaultVersion: string | null;
  versions: IVersion[];
}

export interface IJob {
  jobId: string;
  kind: string;
  state: string;
  progress: { done: number; total: number; unit: string } | null;
  createTime: string | null;
  elapsedS: number;
  errorMessage: string | null;
  notebookPath: string | null;
}

export interface IServerStatus {
  running: boolean;
  url?: string;
  pid?: number;
  port?: number;
  startTime?: string;
}

export interface ILogChunk {
  lines: string[];
  offset: number;
  ended: boolean;
}

/** An error answered by the server extension, with mlnb's own message. */
export class MlnbApiError extends Error {}

export async function requestAPI<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'mlnb', 'api', path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new MlnbApiError(`mlnb: cannot reach the Jupyter server (${error})`);
  }
  const text = await response.text();
  let data: any = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (!response.ok) {
    const message = data && data.message ? data.message : response.statusText;
    throw new MlnbApiError(message);
  }
  return data as T;
}

export const api = {
  models: () => requestAPI<IModel[]>('models'),
  setDefault: (model: string, version: string) =>
    requestAPI<IVersion>(`models/${model}/versions/${version}/default`, { method: 'POST' }),
  deleteVersion: (model: string, version: string) =>
    requestAPI<unknown>(`models/${model}/versions/${version}`, { method: 'DELETE' }),
  predict: (model: string, version: string, instances: unknown[]) =>
    requestAPI<{ predictions: unknown[] }>(`models/${model}/versions/${version}/predict`, {
      method: 'POST',
      body: JSON.stringify({ instances })
    }),
  jobs: () => requestAPI<IJob[]>('jobs'),
  cancelJob: (job: string) => requestAPI<IJob>(`jobs/${job}/cancel`, { method: 'POST' }),
  logs: (job: string, offset: number) => requestAPI<ILogChunk>(`jobs/${job}/logs?offset=${offset}`),
  server: () => requestAPI<IServerStatus>('server'),
  startServer: (port: number) =>
    requestAPI<IServerStatus>('server/start', { method: 'POST', body: JSON.stringify({ port }) }),
  stopServer: () => requestAPI<IServerStatus>('server/stop', { method: 'POST' })
};
