// A main-area tab that follows a job's logs: it asks for the page after the
// position it has reached until a page of an ended job comes back short.
// Lines a trainer wrote to stderr are marked, as `mlnb jobs logs` marks them.
import { MainAreaWidget } from '@jupyterlab/apputils';
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
    this._status = document.createElement('div');
    this._status.className = 'mlnb-logs-status';
    this.node.append(this._status, this._pre);
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
      this._pre.append(...page.entries.map(logLine));
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

  private _pre: HTMLPreElement;
  private _status: HTMLDivElement;
  private _offset = 0;
  private _lines = 0;
  private _timer = 0;
}

/** `TIME  REPLICA  MESSAGE`, as the CLI prints it; a stderr line marked. */
function logLine(entry: ILogEntry): HTMLSpanElement {
  const line = document.createElement('span');
  line.className = `mlnb-log-line mlnb-log-${entry.stream}`;
  const marker = entry.stream === 'stderr' ? '!' : ' ';
  line.textContent = `${entry.time}  ${entry.replica.padEnd(18)}${marker} ${entry.message}\n`;
  return line;
}

export function logsTab(jobId: string): MainAreaWidget<JobLogs> {
  const content = new JobLogs(jobId);
  const widget = new MainAreaWidget({ content });
  widget.id = content.id;
  widget.title.label = content.title.label;
  widget.title.closable = true;
  return widget;
}
