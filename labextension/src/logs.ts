// A main-area tab that follows a job's logs: it asks for the page after the
// position it has reached until a page of an ended job comes back short.
// Lines a trainer wrote to stderr are marked, as `mlnb jobs logs` marks them,
// and a menu shows one replica's lines (a distributed job has several).
import { MainAreaWidget } from '@jupyterlab/apputils';
import { listIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { api, ILogEntry } from './api';

const POLL_MS = 1000;

export class JobLogs extends Widget {
  constructor(readonly jobId: string) {
    super();
    this.addClass('mlnb-logs');
    this.id = `mlnb-logs-${jobId}`;
    this.title.label = `Logs: ${jobId}`;
    this.title.closable = true;
    this._pre = document.createElement('pre');
    this._pre.className = 'mlnb-logs-text';
    this._status = document.createElement('span');
    this._status.className = 'mlnb-logs-status';
    this._replica = document.createElement('select');
    this._replica.className = 'jp-mod-styled mlnb-logs-replica';
    this._replica.setAttribute('aria-label', 'Show the lines of one replica');
    this._replica.append(new Option('All replicas', ''));
    this._replica.addEventListener('change', () => this._filter());
    const bar = document.createElement('div');
    bar.className = 'mlnb-logs-bar';
    bar.append(this._replica, this._status);
    this.node.append(bar, this._pre);
    void this._poll();
  }

  dispose(): void {
    window.clearTimeout(this._timer);
    super.dispose();
  }

  private async _poll(): Promise<void> {
    if (this.isDisposed) {
      return;
    }
    try {
      const page = await api.logs(this.jobId, this._offset);
      const follow = this.node.scrollTop + this.node.clientHeight >= this.node.scrollHeight - 4;
      const lines = page.entries.map(logLine);
      for (const line of lines) {
        this._addReplica(line.dataset.replica!);
        line.hidden = !this._shows(line);
      }
      this._pre.append(...lines);
      this._lines += page.entries.length;
      this._offset = page.nextOffset;
      if (follow) {
        this.node.scrollTop = this.node.scrollHeight;
      }
      // The job had ended before this page was read: once a page comes
      // back empty, every line is here.
      if (page.jobEnded && !page.entries.length) {
        this._status.textContent = `The job has ended: ${this._lines} lines.`;
        return;
      }
      this._status.textContent = `Following the job: ${this._lines} lines so far.`;
    } catch (error) {
      this._status.textContent = `${error}`;
    }
    this._timer = window.setTimeout(() => void this._poll(), POLL_MS);
  }

  private _addReplica(replica: string): void {
    if (!this._replicas.has(replica)) {
      this._replicas.add(replica);
      this._replica.append(new Option(replica, replica));
    }
  }

  private _shows(line: HTMLElement): boolean {
    return !this._replica.value || line.dataset.replica === this._replica.value;
  }

  private _filter(): void {
    for (const line of Array.from(this._pre.children) as HTMLElement[]) {
      line.hidden = !this._shows(line);
    }
  }

  private _pre: HTMLPreElement;
  private _status: HTMLSpanElement;
  private _replica: HTMLSelectElement;
  private _replicas = new Set<string>();
  private _offset = 0;
  private _lines = 0;
  private _timer = 0;
}

/** `TIME  REPLICA  MESSAGE`, as the CLI prints it; a stderr line marked. */
function logLine(entry: ILogEntry): HTMLSpanElement {
  const line = document.createElement('span');
  line.className = `mlnb-log-line mlnb-log-${entry.stream}`;
  line.dataset.replica = entry.replica;
  const marker = entry.stream === 'stderr' ? '!' : ' ';
  line.textContent = `${entry.time}  ${entry.replica.padEnd(18)}${marker} ${entry.message}\n`;
  return line;
}

export function logsTab(jobId: string): MainAreaWidget<JobLogs> {
  const content = new JobLogs(jobId);
  const widget = new MainAreaWidget({ content });
  widget.id = content.id;
  widget.title.label = content.title.label;
  widget.title.icon = listIcon;
  widget.title.closable = true;
  return widget;
}
