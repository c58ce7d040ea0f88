// The left-sidebar panel: Models, Jobs, Server and TensorBoard as collapsible
// sections under a toolbar, as JupyterLab's own side panels are. The server
// extension pushes changes (long polling, /mlnb/api/state); each updates
// the rows in place, keyed by resource name: a field being typed into keeps
// its focus, caret and value, and the panel keeps its scroll. Its buttons
// run the extension's commands, so that the palette and the panel do the
// same thing.
import { CommandRegistry } from '@lumino/commands';
import { Panel, Widget } from '@lumino/widgets';
import { refreshIcon, SidePanel, ToolbarButton } from '@jupyterlab/ui-components';

import {
  api,
  IJob,
  IModel,
  ISchedule,
  IServerStatus,
  ISidebarState,
  ITensorBoard,
  IVersion
} from './api';
import { element } from './dom';
import { renderExplanation } from './explanation';
import { parseInstances } from './instances';
import { graphKey, pipelineGraph } from './pipeline';

// How long to wait before asking again when the feed failed.
const POLL_MS = 2000;
/** The states in which a job can still be cancelled. */
export const LIVE_STATES = ['QUEUED', 'PREPARING', 'RUNNING'];

export namespace CommandIDs {
  export const open = 'mlnb:open';
  export const refresh = 'mlnb:refresh';
  export const setDefault = 'mlnb:set-default';
  export const deleteVersion = 'mlnb:delete-version';
  export const cancelJob = 'mlnb:cancel-job';
  export const openLogs = 'mlnb:open-logs';
  export const openNotebook = 'mlnb:open-notebook';
  export const startServer = 'mlnb:start-server';
  export const stopServer = 'mlnb:stop-server';
  export const openTensorBoard = 'mlnb:open-tensorboard';
  export const stopTensorBoard = 'mlnb:stop-tensorboard';
  export const pauseSchedule = 'mlnb:pause-schedule';
  export const resumeSchedule = 'mlnb:resume-schedule';
  export const runSchedule = 'mlnb:run-schedule';
}

export interface ISelection {
  model: string | null;
  version: string | null;
  job: string | null;
}

/** Set a node's text only when it changed: a refresh that changes nothing
 * touches nothing (no selection lost, no layout redone). */
function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) {
    node.textContent = text;
  }
}

function clock(seconds: number): string {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** `2026-12-01 20:42` in the browser's time zone. */
function shortTime(iso: string | null): string {
  if (!iso) {
    return '';
  }
  const time = new Date(iso);
  if (isNaN(time.getTime())) {
    return iso;
  }
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${time.getFullYear()}-${two(time.getMonth() + 1)}-${two(time.getDate())} ` +
    `${two(time.getHours())}:${two(time.getMinutes())}`
  );
}

/**
 * `parts · date` in a details span: the parts may wrap between them in a
 * narrow panel, the date (its own nowrap span) never does; the full time
 * is its title.
 */
/** A version's newest evaluation in a few words: its first figure and the dataset. */
function evaluationText(evaluation: IVersion['evaluation']): string {
  if (!evaluation) {
    return '';
  }
  const [name, value] = Object.entries(evaluation.figures)[0] ?? [];
  return name === undefined
    ? ''
    : `${name} ${Number(value.toPrecision(3))} on ${evaluation.dataset}`;
}

function setDetails(details: HTMLElement, parts: string[], created: string | null): void {
  if (!details.firstElementChild) {
    details.append(element('span', 'mlnb-facts'), element('span', 'mlnb-time'));
  }
  const [facts, time] = Array.from(details.children) as HTMLElement[];
  const date = shortTime(created);
  const shown = parts.filter(Boolean);
  setText(facts, shown.join(' · ') + (date && shown.length ? ' · ' : ''));
  setText(time, date);
  time.title = created ? `Created ${created}` : '';
}

/**
 * Make `parent`'s children the rows of `items`, in order: a row already
 * there (by key) is kept and updated, a new one made, a gone one removed.
 * Rows in place are never moved, so focus inside them survives.
 */
function reconcile<T>(
  parent: HTMLElement,
  rows: Map<string, HTMLElement>,
  items: T[],
  key: (item: T) => string,
  make: (item: T) => HTMLElement,
  update: (row: HTMLElement, item: T) => void
): void {
  const wanted = new Set(items.map(key));
  for (const [name, row] of rows) {
    if (!wanted.has(name)) {
      row.remove();
      rows.delete(name);
    }
  }
  let cursor = parent.firstElementChild;
  for (const item of items) {
    const name = key(item);
    let row = rows.get(name);
    if (!row) {
      row = make(item);
      rows.set(name, row);
    }
    update(row, item);
    if (row === cursor) {
      cursor = cursor.nextElementSibling;
    } else {
      parent.insertBefore(row, cursor);
    }
  }
}

/** A section of the panel: its title (with a count) is the accordion's header. */
class Section extends Widget {
  constructor(
    readonly label: string,
    className: string,
    empty: string
  ) {
    super();
    this.addClass('mlnb-section');
    this.addClass(className);
    this.title.label = label;
    this.node.setAttribute('aria-label', label);
    this.body = element('div', 'mlnb-section-body');
    this.empty = element('p', 'mlnb-empty', empty);
    this.node.append(this.empty, this.body);
  }

  /** The count beside the title, and the hint where there is nothing. */
  count(n: number | null): void {
    const label = n === null ? this.label : `${this.label} (${n})`;
    if (this.title.label !== label) {
      this.title.label = label;
    }
    this.empty.hidden = n !== 0;
  }

  readonly body: HTMLElement;
  readonly empty: HTMLElement;
}

/** A button that runs a command; `sync()` enables it as the command says. */
interface ICommandButton {
  button: HTMLButtonElement;
  command: string;
  args: any;
}

interface IVersionRow {
  row: HTMLElement;
  badge: HTMLElement;
  traffic: HTMLElement;
  drift: HTMLElement;
  details: HTMLElement;
  form: HTMLElement | null;
  buttons: ICommandButton[];
}

interface IJobRow {
  row: HTMLElement;
  kind: HTMLElement;
  state: HTMLElement;
  details: HTMLElement;
  bar: HTMLProgressElement;
  cancel: HTMLButtonElement;
  error: HTMLElement;
  /** A pipeline's steps, or a rollout's step and the canary's figures. */
  stages: HTMLElement;
  /** A pipeline's graph. */
  graph: HTMLElement;
  buttons: ICommandButton[];
}

/** What a pipeline or rollout job is doing, in one line: each step with its
 * state, or the canary's share and figures; empty for other jobs. */
export function stagesText(job: IJob): string {
  const progress = job.progress;
  if (!progress) {
    return '';
  }
  if (job.kind === 'pipeline' && progress.steps) {
    return progress.steps.map(s => `${s.name} ${s.state.toLowerCase()}`).join(' · ');
  }
  if (job.kind === 'rollout' && progress.canary) {
    const last = progress.last ?? {};
    const p99 =
      typeof last.latencyP99Ms === 'number' ? `, p99 ${last.latencyP99Ms.toFixed(1)} ms` : '';
    const failed = `${((last.errorRate ?? 0) * 100).toFixed(1)}% failed`;
    return `${progress.canary} at ${progress.share}% · ${last.requests ?? 0} requests, ${failed}${p99}`;
  }
  return '';
}

export class MlnbSidebar extends SidePanel {
  readonly selection: ISelection = { model: null, version: null, job: null };
  models: IModel[] = [];
  jobs: IJob[] = [];
  schedules: ISchedule[] = [];
  server: IServerStatus = { running: false };
  tensorboards: ITensorBoard[] = [];

  constructor(private readonly commands: CommandRegistry) {
    super({ header: new Panel() });
    this.id = 'mlnb-sidebar';
    this.addClass('mlnb-sidebar');
    this.title.caption = 'mlnb: models, jobs, server';
    this.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: 'Refresh models, jobs and the server',
        onClick: () => void this.refresh()
      })
    );
    this._error = new Widget({ node: element('div', 'mlnb-error') });
    this.header.addWidget(this._error);
    this._models = new Section(
      'Models',
      'mlnb-models',
      'No models yet: %ml deploy MODEL VERSION --origin DIR'
    );
    this._jobs = new Section(
      'Jobs',
      'mlnb-jobs',
      'No jobs yet: %%ml train, %%ml tune, %ml batch_predict, %ml notebook'
    );
    this._schedules = new Section(
      'Schedules',
      'mlnb-schedules',
      'No schedules: %%ml schedule NAME --every 6h, its job template as the cell'
    );
    this._server = new Section('Server', 'mlnb-server', '');
    this._boards = new Section(
      'TensorBoard',
      'mlnb-tensorboards',
      'None running: %ml tensorboard start --job JOB'
    );
    for (const section of [this._models, this._jobs, this._schedules, this._server, this._boards]) {
      this.addWidget(section);
    }
    this._buildServer();
    void this._follow();
  }

  /** Read everything again now and update the rows (the refresh button). */
  async refresh(): Promise<void> {
    try {
      this._apply(await api.state(null));
    } catch (error) {
      setText(this._error.node, `${error}`);
    }
  }

  /**
   * Follow the server's feed: each answer comes when something changed
   * (or after a while, unchanged). When the feed fails (the server is
   * restarting, the network is down), ask again every POLL_MS.
   */
  private async _follow(): Promise<void> {
    while (!this.isDisposed) {
      try {
        this._apply(await api.state(this._tag));
      } catch (error) {
        setText(this._error.node, `${error}`);
        this._tag = null;
        await new Promise(resolve => window.setTimeout(resolve, POLL_MS));
      }
    }
  }

  private _apply(state: ISidebarState): void {
    if (this.isDisposed) {
      return;
    }
    this._tag = state.tag;
    this.models = state.models;
    this.jobs = state.jobs;
    this.schedules = state.schedules;
    this.server = state.server;
    this.tensorboards = state.tensorboards;
    setText(this._error.node, '');
    this._render();
  }

  schedule(name: string): ISchedule | undefined {
    return this.schedules.find(s => s.name === name);
  }

  job(jobId: string): IJob | undefined {
    return this.jobs.find(j => j.jobId === jobId);
  }

  version(model: string, version: string): IVersion | undefined {
    return this.models.find(m => m.name === model)?.versions.find(v => v.name === version);
  }

  /** The port the Start button asks for (8080 unless changed in the panel). */
  get serverPort(): number {
    return this._port;
  }

  private _render(): void {
    this._renderModels();
    this._renderJobs();
    this._renderSchedules();
    this._renderServer();
    this._renderTensorBoards();
  }

  private _button(
    label: string,
    command: string,
    args: any,
    title: string,
    kind = ''
  ): ICommandButton {
    const button = element('button', `jp-Button jp-mod-styled mlnb-button ${kind}`.trim(), label);
    button.type = 'button';
    button.title = title;
    button.setAttribute('aria-label', title);
    button.addEventListener('click', event => {
      event.stopPropagation();
      void this.commands.execute(command, args);
    });
    return { button, command, args };
  }

  private _sync(buttons: ICommandButton[]): void {
    for (const { button, command, args } of buttons) {
      const disabled = !this.commands.isEnabled(command, args);
      if (button.disabled !== disabled) {
        button.disabled = disabled;
      }
    }
  }

  /** A row that takes focus and is selected by a click, Enter or Space. */
  private _selectable(row: HTMLElement, select: () => void): void {
    row.tabIndex = 0;
    row.addEventListener('click', select);
    row.addEventListener('keydown', event => {
      if (event.target === row && (event.key === 'Enter' || event.key === ' ')) {
        event.preventDefault();
        select();
      }
    });
  }

  // models

  private _renderModels(): void {
    this._models.count(this.models.length);
    reconcile(
      this._models.body,
      this._modelBlocks,
      this.models,
      model => model.name,
      model => {
        const block = element('div', 'mlnb-model');
        block.dataset.model = model.name;
        block.append(
          element('div', 'mlnb-model-name', model.name),
          element('div', 'mlnb-versions'),
          element('div', 'mlnb-model-schedules')
        );
        return block;
      },
      (block, model) => {
        this._renderModelSchedules(block, model.name);
        const versions = block.querySelector('.mlnb-versions') as HTMLElement;
        const items = model.versions.map(version => ({ model: model.name, version }));
        let rows = this._versionItems.get(block);
        if (!rows) {
          rows = new Map();
          this._versionItems.set(block, rows);
        }
        reconcile(
          versions,
          rows,
          items,
          item => `${item.model}/${item.version.name}`,
          item => this._makeVersion(item.model, item.version),
          (node, item) => this._updateVersion(node, item.model, item.version)
        );
      }
    );
  }

  /** The schedules of batch prediction jobs that predict with the model,
   * under its versions, as the Schedules section shows them. */
  private _renderModelSchedules(block: HTMLElement, model: string): void {
    let rows = this._modelScheduleRows.get(block);
    if (!rows) {
      rows = new Map();
      this._modelScheduleRows.set(block, rows);
    }
    reconcile(
      block.querySelector('.mlnb-model-schedules') as HTMLElement,
      rows,
      this.schedules.filter(schedule => schedule.model === model),
      schedule => schedule.name,
      schedule => {
        const row = this._makeSchedule(schedule);
        row.classList.add('mlnb-model-schedule');
        row.title = `Batch prediction jobs of ${model}, scheduled`;
        return row;
      },
      (row, schedule) => this._updateSchedule(row, schedule)
    );
  }

  private _makeVersion(model: string, version: IVersion): HTMLElement {
    const item = element('div', 'mlnb-version-item');
    const row = element('div', 'mlnb-row mlnb-version');
    row.dataset.model = model;
    row.dataset.version = version.name;
    const badge = element('span', 'mlnb-badge mlnb-default', 'default');
    const traffic = element('span', 'mlnb-badge mlnb-traffic');
    const drift = element('span', 'mlnb-badge mlnb-drift');
    const details = element('span', 'mlnb-details');
    const args = { model, version: version.name };
    const buttons = [
      this._button(
        'Set default',
        CommandIDs.setDefault,
        args,
        `Make ${version.name} the default of ${model}`
      ),
      this._button(
        'Delete',
        CommandIDs.deleteVersion,
        args,
        `Delete version ${version.name} of ${model}`,
        'jp-mod-warn'
      )
    ];
    const actions = element('span', 'mlnb-actions');
    actions.append(...buttons.map(b => b.button));
    row.append(element('span', 'mlnb-name', version.name), badge, traffic, drift, details, actions);
    item.append(row);
    this._selectable(row, () => {
      this.selection.model = model;
      this.selection.version = version.name;
      this._renderModels();
    });
    this._versionRows.set(item, { row, badge, traffic, drift, details, form: null, buttons });
    return item;
  }

  private _updateVersion(item: HTMLElement, model: string, version: IVersion): void {
    const view = this._versionRows.get(item)!;
    view.badge.hidden = !version.isDefault;
    // Traffic: its share under the model's split, the aliases that name it, a shadow.
    const said = [
      ...(version.share !== null ? [`${version.share}%`] : []),
      ...version.aliases.map(alias => `@${alias}`),
      ...(version.shadow ? ['shadow'] : [])
    ];
    view.traffic.hidden = said.length === 0;
    setText(view.traffic, said.join(' '));
    view.traffic.title =
      version.share !== null
        ? `Takes ${version.share}% of the model's requests under its traffic split`
        : version.shadow
          ? "Gets a copy of the model's requests, logged; never answers"
          : `Named by ${said.join(', ')}`;
    // Drift, from the last check: a badge that says which features moved.
    view.drift.hidden = version.drifted === null;
    const moved = version.drifted ?? [];
    setText(view.drift, moved.length ? `drift: ${moved.join(', ')}` : 'no drift');
    view.drift.classList.toggle('mlnb-drifted', moved.length > 0);
    view.drift.title = moved.length
      ? `Features past the PSI threshold at the last check: ${moved.join(', ')}`
      : 'No feature had drifted at the last check';
    setDetails(
      view.details,
      [version.framework ?? '', version.state, evaluationText(version.evaluation)],
      version.createTime
    );
    const selected = this.selection.model === model && this.selection.version === version.name;
    view.row.classList.toggle('mlnb-selected', selected);
    if (selected && !view.form) {
      view.form = this._predictForm(model, version.name);
      item.append(view.form);
    }
    if (view.form) {
      view.form.hidden = !selected;
    }
    this._sync(view.buttons);
  }

  private _predictForm(model: string, version: string): HTMLElement {
    const form = element('div', 'mlnb-predict');
    const input = element('textarea', 'mlnb-predict-input');
    input.placeholder = 'One JSON instance per line, or {"instances": [...]}';
    input.setAttribute('aria-label', `Instances for ${model} ${version}`);
    input.spellcheck = false;
    input.addEventListener('click', event => event.stopPropagation());
    const output = element('pre', 'mlnb-predict-output');
    const explained = element('div', 'mlnb-explanation-box');
    // Both buttons read the instances the same way and say how they read
    // them when the server refuses them.
    const run = async (show: (instances: unknown[]) => Promise<void>): Promise<void> => {
      let read = '';
      try {
        const parsed = parseInstances(input.value);
        read = parsed.readAs;
        await show(parsed.instances);
        output.classList.remove('mlnb-predict-failed');
      } catch (error) {
        const message = error instanceof Error ? error.message : `${error}`;
        output.classList.add('mlnb-predict-failed');
        output.textContent = read ? `${message} (the body was read as ${read})` : message;
        explained.replaceChildren();
      }
    };
    const predict = this._formButton('Predict', 'mlnb-predict-button jp-mod-accept', () =>
      run(async instances => {
        const result = await api.predict(model, version, instances);
        output.textContent = JSON.stringify(result.predictions);
        explained.replaceChildren();
      })
    );
    const explain = this._formButton('Explain', 'mlnb-explain-button', () =>
      run(async instances => {
        const answer = await api.explain(model, version, instances);
        output.textContent = '';
        explained.replaceChildren(renderExplanation(answer));
        // The answer is taller than the section's room: bring it into view.
        explained.scrollIntoView({ block: 'nearest' });
      })
    );
    const buttons = element('div', 'mlnb-predict-buttons');
    buttons.append(predict, explain);
    form.append(input, buttons, output, explained);
    return form;
  }

  private _formButton(
    label: string,
    className: string,
    act: () => Promise<void>
  ): HTMLButtonElement {
    const button = element('button', `jp-Button jp-mod-styled mlnb-button ${className}`, label);
    button.type = 'button';
    button.addEventListener('click', event => {
      event.stopPropagation();
      void act();
    });
    return button;
  }

  // jobs

  private _renderJobs(): void {
    this._jobs.count(this.jobs.length);
    reconcile(
      this._jobs.body,
      this._jobRows,
      this.jobs,
      job => job.jobId,
      job => this._makeJob(job),
      (row, job) => this._updateJob(row, job)
    );
  }

  private _makeJob(job: IJob): HTMLElement {
    const row = element('div', 'mlnb-row mlnb-job');
    row.dataset.job = job.jobId;
    const kind = element('span', 'mlnb-badge mlnb-kind');
    const state = element('span', 'mlnb-badge mlnb-state');
    const details = element('span', 'mlnb-details');
    const bar = element('progress', 'mlnb-progress');
    const error = element('div', 'mlnb-job-error');
    const stages = element('div', 'mlnb-details mlnb-stages');
    const graph = element('div', 'mlnb-pipeline');
    const args = { job: job.jobId };
    const logs = this._button('Logs', CommandIDs.openLogs, args, `Open the logs of ${job.jobId}`);
    const cancel = this._button(
      'Cancel',
      CommandIDs.cancelJob,
      args,
      `Cancel ${job.jobId}`,
      'jp-mod-warn'
    );
    const buttons = [logs, cancel];
    if (job.kind === 'notebook') {
      buttons.push(
        this._button(
          'Notebook',
          CommandIDs.openNotebook,
          args,
          `Open the executed notebook of ${job.jobId}`
        )
      );
    }
    const actions = element('span', 'mlnb-actions');
    actions.append(...buttons.map(b => b.button));
    row.append(
      element('span', 'mlnb-name', job.jobId),
      kind,
      state,
      details,
      actions,
      bar,
      stages,
      graph,
      error
    );
    this._selectable(row, () => {
      this.selection.job = job.jobId;
      this._renderJobs();
    });
    this._jobViews.set(row, {
      row,
      kind,
      state,
      details,
      bar,
      cancel: cancel.button,
      error,
      stages,
      graph,
      buttons
    });
    return row;
  }

  private _updateJob(row: HTMLElement, job: IJob): void {
    const view = this._jobViews.get(row)!;
    const stateClass = `mlnb-state-${job.state.toLowerCase()}`;
    if (!row.classList.contains(stateClass)) {
      row.classList.forEach(c => c.startsWith('mlnb-state-') && row.classList.remove(c));
      row.classList.add(stateClass);
    }
    row.classList.toggle('mlnb-selected', this.selection.job === job.jobId);
    setText(view.kind, job.kind);
    setText(view.state, job.state);
    setDetails(view.details, [job.progressText, clock(job.elapsedS)], job.createTime);
    const total = job.progress?.total ?? 0;
    view.bar.hidden = !total;
    if (total) {
      view.bar.max = total;
      view.bar.value = job.progress!.done;
    }
    // A finished job has nothing to cancel: no button, rather than a dead one.
    view.cancel.hidden = !LIVE_STATES.includes(job.state);
    setText(view.error, job.errorMessage ?? '');
    view.error.hidden = !job.errorMessage;
    const stages = stagesText(job);
    setText(view.stages, stages);
    view.stages.hidden = !stages;
    this._drawPipeline(view.graph, job);
    this._sync(view.buttons);
  }

  /** A pipeline job's graph, drawn again when a step's state changes. */
  private _drawPipeline(box: HTMLElement, job: IJob): void {
    const steps = job.progress?.steps ?? [];
    const layers = job.progress?.layers ?? [];
    const key = job.kind === 'pipeline' ? graphKey(steps, layers) : '';
    if (box.dataset.key === key) {
      return;
    }
    box.dataset.key = key;
    const graph = key ? pipelineGraph(steps, layers) : null;
    box.replaceChildren(...(graph ? [graph] : []));
    box.hidden = !graph;
  }

  // schedules

  private _renderSchedules(): void {
    this._schedules.count(this.schedules.length);
    reconcile(
      this._schedules.body,
      this._scheduleRows,
      this.schedules,
      schedule => schedule.name,
      schedule => this._makeSchedule(schedule),
      (row, schedule) => this._updateSchedule(row, schedule)
    );
  }

  private _makeSchedule(schedule: ISchedule): HTMLElement {
    const row = element('div', 'mlnb-row mlnb-schedule');
    row.dataset.schedule = schedule.name;
    const args = { schedule: schedule.name };
    const view: IScheduleRow = {
      state: element('span', 'mlnb-badge mlnb-state'),
      details: element('span', 'mlnb-details'),
      last: element('span', 'mlnb-badge mlnb-last-run'),
      message: element('div', 'mlnb-job-error'),
      pause: this._button('Pause', CommandIDs.pauseSchedule, args, `Pause ${schedule.name}`),
      resume: this._button(
        'Resume',
        CommandIDs.resumeSchedule,
        args,
        `Resume ${schedule.name}`,
        'jp-mod-accept'
      ),
      run: this._button('Run now', CommandIDs.runSchedule, args, `Run ${schedule.name}'s job now`)
    };
    const actions = element('span', 'mlnb-actions');
    actions.append(view.pause.button, view.resume.button, view.run.button);
    row.append(
      element('span', 'mlnb-name', schedule.name),
      view.state,
      view.last,
      view.details,
      actions,
      view.message
    );
    this._scheduleViews.set(row, view);
    return row;
  }

  private _updateSchedule(row: HTMLElement, schedule: ISchedule): void {
    const view = this._scheduleViews.get(row)!;
    setText(view.state, schedule.state);
    const next = schedule.nextRunTime ? `next ${shortTime(schedule.nextRunTime)}` : '';
    setText(view.details, [schedule.cadence, next].filter(Boolean).join(' · '));
    // The newest run's job state: how the schedule is doing, at a glance.
    setText(view.last, schedule.lastRunState ? `last ${schedule.lastRunState}` : '');
    view.last.hidden = !schedule.lastRunState;
    view.last.classList.toggle('mlnb-last-failed', schedule.lastRunState === 'FAILED');
    view.last.classList.toggle('mlnb-last-succeeded', schedule.lastRunState === 'SUCCEEDED');
    setText(view.message, schedule.lastMessage ?? '');
    view.message.hidden = !schedule.lastMessage;
    view.pause.button.hidden = schedule.state !== 'ACTIVE';
    view.resume.button.hidden = schedule.state !== 'PAUSED';
    this._sync([view.pause, view.resume, view.run]);
  }

  // the REST server

  private _buildServer(): void {
    const body = this._server.body;
    this._serverStatus = element('p', 'mlnb-server-status');
    const port = element('input', 'jp-mod-styled mlnb-port');
    port.type = 'text';
    port.inputMode = 'numeric';
    port.value = String(this._port);
    port.setAttribute('aria-label', 'Port of the mlnb REST server');
    port.addEventListener('input', () => {
      const value = Number(port.value);
      const valid = /^\d+$/.test(port.value) && value > 0 && value < 65536;
      port.classList.toggle('mlnb-invalid', !valid);
      if (valid) {
        this._port = value;
      }
    });
    this._portLabel = element('label', 'mlnb-port-label', 'Port ');
    this._portLabel.append(port);
    this._start = this._button(
      'Start',
      CommandIDs.startServer,
      {},
      'Start the mlnb REST server',
      'jp-mod-accept'
    );
    this._stop = this._button('Stop', CommandIDs.stopServer, {}, 'Stop the mlnb REST server');
    const controls = element('div', 'mlnb-server-controls');
    controls.append(this._portLabel, this._start.button, this._stop.button);
    body.append(this._serverStatus, controls);
  }

  private _renderServer(): void {
    this._server.count(null);
    const running = this.server.running;
    setText(
      this._serverStatus,
      running ? `Running at ${this.server.url} (pid ${this.server.pid})` : 'Not running'
    );
    this._portLabel.hidden = running;
    this._start.button.hidden = running;
    this._stop.button.hidden = !running;
    this._sync([this._start, this._stop]);
  }

  // TensorBoards

  private _renderTensorBoards(): void {
    this._boards.count(this.tensorboards.length);
    reconcile(
      this._boards.body,
      this._boardRows,
      this.tensorboards,
      board => String(board.port),
      board => {
        const row = element('div', 'mlnb-row mlnb-tensorboard');
        row.dataset.port = String(board.port);
        const args = { port: board.port };
        const actions = element('span', 'mlnb-actions');
        actions.append(
          this._button(
            'Open',
            CommandIDs.openTensorBoard,
            args,
            `Open the TensorBoard on port ${board.port}`,
            'jp-mod-accept'
          ).button,
          this._button(
            'Stop',
            CommandIDs.stopTensorBoard,
            args,
            `Stop the TensorBoard on port ${board.port}`,
            'jp-mod-warn'
          ).button
        );
        const logdir = element('span', 'mlnb-details mlnb-logdir', board.logdir);
        logdir.title = board.logdir;
        row.append(element('span', 'mlnb-name', `:${board.port}`), logdir, actions);
        return row;
      },
      () => undefined
    );
  }

  tensorboard(port: number): ITensorBoard | undefined {
    return this.tensorboards.find(b => b.port === port);
  }

  private _models: Section;
  private _jobs: Section;
  private _schedules: Section;
  private _server: Section;
  private _boards: Section;
  private _boardRows = new Map<string, HTMLElement>();
  private _error: Widget;
  private _serverStatus!: HTMLElement;
  private _portLabel!: HTMLElement;
  private _start!: ICommandButton;
  private _stop!: ICommandButton;
  private _tag: string | null = null;
  private _port = 8080;
  private _modelBlocks = new Map<string, HTMLElement>();
  // Each model block's version rows, by model/version.
  private _versionItems = new WeakMap<HTMLElement, Map<string, HTMLElement>>();
  private _versionRows = new WeakMap<HTMLElement, IVersionRow>();
  // Each model block's rows of its scheduled batch jobs, by schedule.
  private _modelScheduleRows = new WeakMap<HTMLElement, Map<string, HTMLElement>>();
  private _jobRows = new Map<string, HTMLElement>();
  private _jobViews = new WeakMap<HTMLElement, IJobRow>();
  private _scheduleRows = new Map<string, HTMLElement>();
  private _scheduleViews = new WeakMap<HTMLElement, IScheduleRow>();
}

interface IScheduleRow {
  state: HTMLElement;
  details: HTMLElement;
  last: HTMLElement;
  message: HTMLElement;
  pause: ICommandButton;
  resume: ICommandButton;
  run: ICommandButton;
}
