// Calls to the mlnb server extension (/mlnb/api/...). ServerConnection adds
// Jupyter's token or XSRF header, so the sidebar is under Jupyter's own auth.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

// What the sidebar shows. The server extension answers the REST API's own
// bodies (full resource names, unset fields left out); `api` below turns
// them into these.
export interface IVersion {
  name: string;
  state: string;
  framework: string | null;
  isDefault: boolean;
  createTime: string | null;
  description: string;
  errorMessage: string | null;
  /** The features its last drift check found drifted (null: never checked). */
  drifted: string[] | null;
  /** Its newest evaluation: the dataset and the headline figures. */
  evaluation: { dataset: string; figures: Record<string, number> } | null;
  /** Its share of the model's requests under a traffic split (null: no split). */
  share: number | null;
  /** The model's aliases that name it (`champion`). */
  aliases: string[];
  /** Whether it is the model's shadow (a copy of the traffic, never answering). */
  shadow: boolean;
}

export interface IModel {
  name: string;
  description: string;
  defaultVersion: string | null;
  versions: IVersion[];
}

/** A pipeline's step, as its job's progress has it. */
export interface IPipelineStep {
  name: string;
  action: string;
  state: string;
  needs?: string[];
  error?: string;
}

/** A rollout's figures of its current step, as its job's progress has them. */
export interface IRolloutFigures {
  requests?: number;
  errorRate?: number;
  latencyP99Ms?: number | null;
}

export interface IJob {
  jobId: string;
  kind: string;
  state: string;
  progress: {
    done: number;
    total: number;
    unit: string;
    /** A pipeline's steps, and their names by depth (for its graph). */
    steps?: IPipelineStep[];
    layers?: string[][];
    /** A rollout's canary, its share and figures. */
    canary?: string;
    share?: number;
    last?: IRolloutFigures;
  } | null;
  /** The progress as every face writes it (`3/12 epochs`), or empty. */
  progressText: string;
  createTime: string | null;
  elapsedS: number;
  errorMessage: string | null;
  notebookPath: string | null;
}

/** A schedule: a job template the job hosts run on a cron or an interval. */
export interface ISchedule {
  name: string;
  state: string;
  /** `every 6h` or `cron '0 2 * * *'`, as a person wrote it. */
  cadence: string;
  /** The model its batch prediction jobs predict with, if they do. */
  model: string | null;
  nextRunTime: string | null;
  lastRunTime: string | null;
  /** The state of its newest run's job (FAILED when it could not be submitted). */
  lastRunState: string | null;
  lastMessage: string | null;
  runCount: number;
}

export interface IServerStatus {
  running: boolean;
  url?: string;
  pid?: number;
  port?: number;
  startTime?: string;
}

/** A TensorBoard of the mlnb home, served through Jupyter at `proxyPath`. */
export interface ITensorBoard {
  port: number;
  logdir: string;
  pid: number;
  /** jupyter-server-proxy's path to it, relative to Jupyter's base URL. */
  proxyPath: string;
}

/** One line of a job's log, as the REST server's `jobs.logs` has it. */
export interface ILogEntry {
  time: string;
  replica: string;
  stream: 'stdout' | 'stderr' | 'service';
  message: string;
}

/** A page of a job's log: ask again from `nextOffset` until `jobEnded`. */
export interface ILogPage {
  entries: ILogEntry[];
  nextOffset: number;
  jobEnded: boolean;
}

/** One instance's explanation of one output, as `projects.explain` answers
 * (a custom routine's own explain() may give the attributions alone). */
export interface IAttribution {
  label_index?: number;
  example_score?: number;
  baseline_score?: number;
  approx_error?: number;
  /** Numbers by feature; an image input's map (nested lists). */
  attributions: Record<string, number | unknown[]>;
}

/** A version's `:explain` answer. */
export interface IExplainAnswer {
  explanations: { attributions_by_label: IAttribution[] }[];
  predictions: unknown[];
  method: string;
  version: string;
  explainedScore?: string;
}

interface IVersionBody {
  name: string;
  state: string;
  framework?: string;
  isDefault?: boolean;
  createTime?: string;
  description?: string;
  errorMessage?: string;
  drift?: { drifted: string[]; time?: string };
  evaluation?: { dataset: string; figures: Record<string, number> };
}

interface IModelBody {
  name: string;
  description?: string;
  defaultVersion?: IVersionBody;
  versions?: IVersionBody[];
  trafficSplit?: Record<string, number>;
  aliases?: Record<string, string>;
  shadow?: { version: string; percent: number };
}

type IJobBody = Partial<IJob> & { jobId: string; state: string; kind: string; elapsedS: number };

interface IScheduleBody {
  name: string;
  state: string;
  /** How it runs, in words (the server's `ScheduleRecord.cadence`). */
  cadence: string;
  model?: string | null;
  nextRunTime?: string;
  lastRunTime?: string;
  lastRunState?: string | null;
  lastMessage?: string;
  runCount?: number;
}

function schedule(body: IScheduleBody): ISchedule {
  return {
    name: shortName(body.name),
    state: body.state,
    cadence: body.cadence,
    model: body.model ?? null,
    nextRunTime: body.nextRunTime ?? null,
    lastRunTime: body.lastRunTime ?? null,
    lastRunState: body.lastRunState ?? null,
    lastMessage: body.lastMessage ?? null,
    runCount: body.runCount ?? 0
  };
}

/** The last part of a resource name (`projects/p/models/m` is `m`). */
export function shortName(resource: string): string {
  return resource.slice(resource.lastIndexOf('/') + 1);
}

function version(body: IVersionBody, owner?: IModelBody): IVersion {
  const name = shortName(body.name);
  const split = owner?.trafficSplit;
  const aliases = Object.entries(owner?.aliases ?? {})
    .filter(([, target]) => target === name)
    .map(([alias]) => alias)
    .sort();
  return {
    name: shortName(body.name),
    state: body.state,
    framework: body.framework ?? null,
    isDefault: body.isDefault ?? false,
    createTime: body.createTime ?? null,
    description: body.description ?? '',
    errorMessage: body.errorMessage ?? null,
    drifted: body.drift ? body.drift.drifted : null,
    evaluation: body.evaluation ?? null,
    share: split ? (split[name] ?? 0) : null,
    aliases,
    shadow: owner?.shadow?.version === name
  };
}

function model(body: IModelBody): IModel {
  return {
    name: shortName(body.name),
    description: body.description ?? '',
    defaultVersion: body.defaultVersion ? shortName(body.defaultVersion.name) : null,
    versions: (body.versions ?? []).map(v => version(v, body))
  };
}

function job(body: IJobBody): IJob {
  return {
    jobId: body.jobId,
    kind: body.kind,
    state: body.state,
    progress: body.progress ?? null,
    progressText: body.progressText ?? '',
    createTime: body.createTime ?? null,
    elapsedS: body.elapsedS,
    errorMessage: body.errorMessage ?? null,
    notebookPath: body.notebookPath ?? null
  };
}

/** Everything the sidebar shows, with the tag to ask for the next change with. */
export interface ISidebarState {
  tag: string;
  models: IModel[];
  jobs: IJob[];
  schedules: ISchedule[];
  server: IServerStatus;
  tensorboards: ITensorBoard[];
}

interface IStateBody {
  tag: string;
  models?: IModelBody[];
  jobs?: IJobBody[];
  schedules?: IScheduleBody[];
  server: IServerStatus;
  tensorboards?: ITensorBoard[];
}

/** An error answered by the server extension: Google's error body's message. */
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
      data = { error: { message: text } };
    }
  }
  if (!response.ok) {
    const message = data?.error?.message ?? response.statusText;
    throw new MlnbApiError(message);
  }
  return data as T;
}

export const api = {
  /** The state now (no `since`), or once it moves past `since` (long polling). */
  state: async (since: string | null): Promise<ISidebarState> => {
    const query = since === null ? '' : `?since=${encodeURIComponent(since)}`;
    const body = await requestAPI<IStateBody>(`state${query}`);
    return {
      tag: body.tag,
      models: (body.models ?? []).map(model),
      jobs: (body.jobs ?? []).map(job),
      schedules: (body.schedules ?? []).map(schedule),
      server: body.server,
      tensorboards: body.tensorboards ?? []
    };
  },
  setDefault: async (model: string, name: string) =>
    version(
      await requestAPI<IVersionBody>(`models/${model}/versions/${name}/default`, { method: 'POST' })
    ),
  deleteVersion: (model: string, name: string) =>
    requestAPI<unknown>(`models/${model}/versions/${name}`, { method: 'DELETE' }),
  predict: (model: string, name: string, instances: unknown[]) =>
    requestAPI<{ predictions: unknown[] }>(`models/${model}/versions/${name}/predict`, {
      method: 'POST',
      body: JSON.stringify({ instances })
    }),
  explain: (model: string, name: string, instances: unknown[]) =>
    requestAPI<IExplainAnswer>(`models/${model}/versions/${name}/explain`, {
      method: 'POST',
      body: JSON.stringify({ instances })
    }),
  cancelJob: async (name: string) =>
    job(await requestAPI<IJobBody>(`jobs/${name}/cancel`, { method: 'POST' })),
  scheduleAction: async (name: string, action: 'pause' | 'resume') =>
    schedule(await requestAPI<IScheduleBody>(`schedules/${name}/${action}`, { method: 'POST' })),
  runSchedule: async (name: string) =>
    job(await requestAPI<IJobBody>(`schedules/${name}/run`, { method: 'POST' })),
  logs: (name: string, offset: number) =>
    requestAPI<ILogPage>(`jobs/${name}/logs?offset=${offset}`),
  startServer: (port: number) =>
    requestAPI<IServerStatus>('server/start', { method: 'POST', body: JSON.stringify({ port }) }),
  stopServer: () => requestAPI<IServerStatus>('server/stop', { method: 'POST' }),
  stopTensorBoard: (port: number) =>
    requestAPI<unknown>(`tensorboards/${port}/stop`, { method: 'POST' })
};
