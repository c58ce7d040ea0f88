// The left-sidebar panel: Models, Jobs and Server sections, refreshed by
// polling; its buttons run the extension's commands, so that the palette
// and the panel do the same thing.
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { api, IJob, IModel, IServerStatus } from './api';

const POLL_MS = 2000;

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
}

export interface ISelection {
  model: string | null;
  version: string | null;
  job: string | null;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function clock(seconds: number): string {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

export class MlnbSidebar extends Widget {
  readonly selection: ISelection = { model: null, version: null, job: null };
  models: IModel[] = [];
  jobs: IJob[] = [];
  server: IServerStatus = { running: false };

  constructor(private readonly commands: CommandRegistry) {
    super();
    this.id = 'mlnb-sidebar';
    this.addClass('mlnb-sidebar');
    this.title.caption = 'mlnb: models, jobs, server';
    this._models = this._section('Models', 'mlnb-models');
    this._jobs = this._section('Jobs', 'mlnb-jobs');
    this._server = this._section('Server', 'mlnb-server');
    this._error = element('div', 'mlnb-error');
    this.node.append(this._error);
    void this.refresh();
  }

  dispose(): void {
    window.clearTimeout(this._timer);
    super.dispose();
  }

  /** Read models, jobs and the server again and redraw. */
  async refresh(): Promise<void> {
    window.clearTimeout(this._timer);
    try {
      const [models, jobs, server] = await Promise.all([api.models(), api.jobs(), api.server()]);
      this.models = models;
      this.jobs = jobs;
      this.server = server;
      this._error.textContent = '';
      this._render();
    } catch (error) {
      this._error.textContent = `${error}`;
    }
    if (!this.isDisposed) {
      this._timer = window.setTimeout(() => void this.refresh(), POLL_MS);
    }
  }

  private _section(title: string, className: string): HTMLElement {
    const section = element('section', `mlnb-section ${className}`);
    section.setAttribute('aria-label', title);
    section.append(element('h3', 'mlnb-section-title', title));
    const body = element('div', 'mlnb-section-body');
    section.append(body);
    this.node.append(section);
    return body;
  }

  private _button(label: string, command: string, args: any, title: string): HTMLButtonElement {
    const button = element('button', 'jp-Button mlnb-button', label);
    button.type = 'button';
    button.title = title;
    button.setAttribute('aria-label', title);
    button.disabled = !this.commands.isEnabled(command, args);
    button.addEventListener('click', event => {
      event.stopPropagation();
      void this.commands.execute(command, args);
    });
    return button;
  }

  /** A row that takes focus and is selected by a click, Enter or Space. */
  private _selectable(row: HTMLElement, selected: boolean, select: () => void): void {
    row.tabIndex = 0;
    row.classList.toggle('mlnb-selected', selected);
    row.addEventListener('click', select);
    row.addEventListener('keydown', event => {
      if (event.target === row && (event.key === 'Enter' || event.key === ' ')) {
        event.preventDefault();
        select();
      }
    });
  }

  private _render(): void {
    this._renderModels();
    this._renderJobs();
    this._renderServer();
  }

  private _renderModels(): void {
    const body = this._models;
    body.replaceChildren();
    if (!this.models.length) {
      body.append(
        element('p', 'mlnb-empty', 'No models yet: %ml deploy MODEL VERSION --origin DIR')
      );
      return;
    }
    for (const model of this.models) {
      const block = element('div', 'mlnb-model');
      block.dataset.model = model.name;
      const header = element('div', 'mlnb-model-name', model.name);
      block.append(header);
      for (const version of model.versions) {
        const row = element('div', 'mlnb-row mlnb-version');
        row.dataset.model = model.name;
        row.dataset.version = version.name;
        const selected =
          this.selection.model === model.name && this.selection.version === version.name;
        this._selectable(row, selected, () => {
          this.selection.model = model.name;
          this.selection.version = version.name;
          this._renderModels();
        });
        const name = element('span', 'mlnb-name', version.name);
        const details = element(
          'span',
          'mlnb-details',
          `${version.framework ?? ''} · ${version.state} · ${(version.createTime ?? '').slice(0, 19).replace('T', ' ')}`
        );
        row.append(name);
        if (version.isDefault) {
          row.append(element('span', 'mlnb-badge mlnb-default', 'default'));
        }
        row.append(details);
        const args = { model: model.name, version: version.name };
        const actions = element('span', 'mlnb-actions');
        actions.append(
          this._button(
            'Set default',
            CommandIDs.setDefault,
            args,
            `Make ${version.name} the default of ${model.name}`
          ),
          this._button(
            'Delete',
            CommandIDs.deleteVersion,
            args,
            `Delete version ${version.name} of ${model.name}`
          )
        );
        row.append(actions);
        block.append(row);
        if (selected) {
          block.append(this._predictForm(model.name, version.name));
        }
      }
      body.append(block);
    }
  }

  private _predictForm(model: string, version: string): HTMLElement {
    const form = element('div', 'mlnb-predict');
    const input = element('textarea', 'mlnb-predict-input');
    input.placeholder = 'Instances as JSON: a list, or one instance per line';
    input.setAttribute('aria-label', `Instances for ${model} ${version}`);
    input.value = this._instances.get(`${model}/${version}`) ?? '';
    input.addEventListener('input', () => this._instances.set(`${model}/${version}`, input.value));
    input.addEventListener('click', event => event.stopPropagation());
    const output = element('pre', 'mlnb-predict-output');
    output.textContent = this._predictions.get(`${model}/${version}`) ?? '';
    const button = element('button', 'jp-Button mlnb-button mlnb-predict-button', 'Predict');
    button.type = 'button';
    button.addEventListener('click', async event => {
      event.stopPropagation();
      let text = '';
      try {
        const instances = parseInstances(input.value);
        const result = await api.predict(model, version, instances);
        text = JSON.stringify(result.predictions);
      } catch (error) {
        text = `Error: ${error instanceof Error ? error.message : error}`;
      }
      this._predictions.set(`${model}/${version}`, text);
      output.textContent = text;
    });
    form.append(input, button, output);
    return form;
  }

  private _renderJobs(): void {
    const body = this._jobs;
    body.replaceChildren();
    if (!this.jobs.length) {
      body.append(
        element(
          'p',
          'mlnb-empty',
          'No jobs yet: %%ml train, %%ml tune, %ml batch_predict, %ml notebook'
        )
      );
      return;
    }
    for (const job of this.jobs) {
      const row = element('div', `mlnb-row mlnb-job mlnb-state-${job.state.toLowerCase()}`);
      row.dataset.job = job.jobId;
      this._selectable(row, this.selection.job === job.jobId, () => {
        this.selection.job = job.jobId;
        this._renderJobs();
      });
      row.append(element('span', 'mlnb-name', job.jobId));
      row.append(element('span', 'mlnb-badge mlnb-kind', job.kind));
      row.append(element('span', 'mlnb-badge mlnb-state', job.state));
      row.append(
        element('span', 'mlnb-details', `${job.progressText} ${clock(job.elapsedS)}`.trim())
      );
      if (job.progress && job.progress.total) {
        const bar = element('progress', 'mlnb-progress');
        bar.max = job.progress.total;
        bar.value = job.progress.done;
        row.append(bar);
      }
      const args = { job: job.jobId };
      const actions = element('span', 'mlnb-actions');
      actions.append(
        this._button('Logs', CommandIDs.openLogs, args, `Open the logs of ${job.jobId}`),
        this._button('Cancel', CommandIDs.cancelJob, args, `Cancel ${job.jobId}`)
      );
      if (job.kind === 'notebook') {
        actions.append(
          this._button(
            'Notebook',
            CommandIDs.openNotebook,
            args,
            `Open the executed notebook of ${job.jobId}`
          )
        );
      }
      row.append(actions);
      if (job.errorMessage) {
        row.append(element('div', 'mlnb-job-error', job.errorMessage));
      }
      body.append(row);
    }
  }

  /** The port the Start button asks for (8080 unless changed in the panel). */
  get serverPort(): number {
    return this._port;
  }

  private _renderServer(): void {
    const body = this._server;
    body.replaceChildren();
    const status = element(
      'p',
      'mlnb-server-status',
      this.server.running ? `Running at ${this.server.url} (pid ${this.server.pid})` : 'Not running'
    );
    body.append(status);
    if (this.server.running) {
      body.append(this._button('Stop', CommandIDs.stopServer, {}, 'Stop the mlnb REST server'));
      return;
    }
    const port = element('input', 'mlnb-port');
    port.type = 'number';
    port.min = '1';
    port.max = '65535';
    port.value = String(this._port);
    port.setAttribute('aria-label', 'Port of the mlnb REST server');
    port.addEventListener('input', () => {
      const value = Number(port.value);
      if (Number.isInteger(value) && value > 0 && value < 65536) {
        this._port = value;
      }
    });
    const label = element('label', 'mlnb-port-label', 'Port ');
    label.append(port);
    body.append(
      label,
      this._button('Start', CommandIDs.startServer, {}, 'Start the mlnb REST server')
    );
  }

  job(jobId: string): IJob | undefined {
    return this.jobs.find(j => j.jobId === jobId);
  }

  version(model: string, version: string) {
    return this.models.find(m => m.name === model)?.versions.find(v => v.name === version);
  }

  private _models: HTMLElement;
  private _jobs: HTMLElement;
  private _server: HTMLElement;
  private _error: HTMLElement;
  private _timer = 0;
  private _port = 8080;
  private _instances = new Map<string, string>();
  private _predictions = new Map<string, string>();
}

export function parseInstances(text: string): unknown[] {
  const trimmed = text.trim();
  if (!trimmed) {
    throw new Error('Give instances: a JSON list, or one JSON instance per line');
  }
  try {
    const whole = JSON.parse(trimmed);
    return Array.isArray(whole) ? whole : [whole];
  } catch {
    return trimmed
      .split('\n')
      .filter(line => line.trim())
      .map(line => JSON.parse(line));
  }
}
