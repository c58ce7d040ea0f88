// The mlnb JupyterLab extension: a left-sidebar panel (models, jobs, the
// REST server) with a command for each of its actions.
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  IFrame,
  MainAreaWidget,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { LabIcon } from '@jupyterlab/ui-components';

import { api } from './api';
import { logsTab } from './logs';
import { CommandIDs, LIVE_STATES, MlnbSidebar } from './sidebar';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="3" y="13" width="4" height="8" rx="1"/>
    <rect x="10" y="8" width="4" height="13" rx="1"/>
    <rect x="17" y="3" width="4" height="18" rx="1"/>
  </g>
</svg>`;

export const mlnbIcon = new LabIcon({ name: 'mlnb:icon', svgstr: ICON_SVG });

async function run(action: () => Promise<unknown>, done?: string): Promise<void> {
  try {
    await action();
    if (done) {
      Notification.success(done, { autoClose: 3000 });
    }
  } catch (error) {
    Notification.error(error instanceof Error ? error.message : `${error}`, { autoClose: 8000 });
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'mlnb-labextension:sidebar',
  description: 'The mlnb sidebar: models, jobs and the REST server.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ICommandPalette, IDocumentManager],
  activate: (
    app: JupyterFrontEnd,
    shell: ILabShell,
    palette: ICommandPalette | null,
    docManager: IDocumentManager | null
  ) => {
    const { commands } = app;
    const sidebar = new MlnbSidebar(commands);
    sidebar.title.icon = mlnbIcon;
    shell.add(sidebar, 'left', { rank: 900 });

    const versionArgs = (args: any) => ({
      model: (args.model as string) ?? sidebar.selection.model,
      version: (args.version as string) ?? sidebar.selection.version
    });
    const jobArg = (args: any) => (args.job as string) ?? sidebar.selection.job;
    /** Bring a main-area tab forward if it is open; whether it was. */
    const showOpenTab = (id: string): boolean => {
      const open = Array.from(shell.widgets('main')).some(w => w.id === id);
      if (open) {
        shell.activateById(id);
      }
      return open;
    };

    commands.addCommand(CommandIDs.open, {
      label: 'mlnb: Show the Sidebar',
      execute: () => shell.activateById(sidebar.id)
    });
    commands.addCommand(CommandIDs.refresh, {
      label: 'mlnb: Refresh the Sidebar',
      execute: () => sidebar.refresh()
    });
    commands.addCommand(CommandIDs.setDefault, {
      label: 'mlnb: Make the Selected Version the Default',
      isEnabled: args => {
        const { model, version } = versionArgs(args);
        const found = model && version ? sidebar.version(model, version) : undefined;
        return !!found && !found.isDefault && found.state === 'READY';
      },
      execute: async args => {
        const { model, version } = versionArgs(args);
        if (model && version) {
          await run(
            () => api.setDefault(model, version),
            `${version} is now the default of ${model}`
          );
          await sidebar.refresh();
        }
      }
    });
    commands.addCommand(CommandIDs.deleteVersion, {
      label: 'mlnb: Delete the Selected Version',
      isEnabled: args => {
        const { model, version } = versionArgs(args);
        return !!model && !!version && !!sidebar.version(model, version);
      },
      execute: async args => {
        const { model, version } = versionArgs(args);
        if (!model || !version) {
          return;
        }
        const answer = await showDialog({
          title: 'Delete a version',
          body: `Delete version ${version} of model ${model}, and its stored files?`,
          buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
        });
        if (answer.button.accept) {
          await run(
            () => api.deleteVersion(model, version),
            `Deleted version ${version} of ${model}`
          );
          await sidebar.refresh();
        }
      }
    });
    commands.addCommand(CommandIDs.cancelJob, {
      label: 'mlnb: Cancel the Selected Job',
      isEnabled: args => {
        const job = jobArg(args);
        const found = job ? sidebar.job(job) : undefined;
        return !!found && LIVE_STATES.includes(found.state);
      },
      execute: async args => {
        const job = jobArg(args);
        if (job) {
          await run(() => api.cancelJob(job), `Cancelling ${job}`);
          await sidebar.refresh();
        }
      }
    });
    commands.addCommand(CommandIDs.openLogs, {
      label: 'mlnb: Open the Logs of the Selected Job',
      isEnabled: args => !!jobArg(args),
      execute: args => {
        const job = jobArg(args);
        if (!job) {
          return;
        }
        if (!showOpenTab(`mlnb-logs-${job}`)) {
          shell.add(logsTab(job), 'main');
        }
      }
    });
    commands.addCommand(CommandIDs.openNotebook, {
      label: 'mlnb: Open the Executed Notebook of the Selected Job',
      isEnabled: args => {
        const job = jobArg(args);
        return !!job && sidebar.job(job)?.kind === 'notebook' && !!docManager;
      },
      execute: args => {
        const job = jobArg(args);
        const found = job ? sidebar.job(job) : undefined;
        if (!found || !docManager) {
          return;
        }
        if (!found.notebookPath) {
          Notification.warning(
            `The executed notebook of ${found.jobId} is outside Jupyter's root folder: submit it with --job-dir under the root`,
            { autoClose: 8000 }
          );
          return;
        }
        docManager.openOrReveal(found.notebookPath);
      }
    });
    commands.addCommand(CommandIDs.startServer, {
      label: 'mlnb: Start the REST Server',
      isEnabled: () => !sidebar.server.running,
      execute: async () => {
        await run(() => api.startServer(sidebar.serverPort), 'The mlnb REST server started');
        await sidebar.refresh();
      }
    });
    commands.addCommand(CommandIDs.stopServer, {
      label: 'mlnb: Stop the REST Server',
      isEnabled: () => sidebar.server.running,
      execute: async () => {
        await run(() => api.stopServer(), 'The mlnb REST server stopped');
        await sidebar.refresh();
      }
    });

    const portArg = (args: any) => Number(args.port);
    commands.addCommand(CommandIDs.openTensorBoard, {
      label: 'mlnb: Open a TensorBoard',
      isEnabled: args => !!sidebar.tensorboard(portArg(args)),
      execute: args => {
        const board = sidebar.tensorboard(portArg(args));
        if (!board) {
          return;
        }
        const id = `mlnb-tensorboard-${board.port}`;
        if (showOpenTab(id)) {
          return;
        }
        // Through jupyter-server-proxy: the browser reaches TensorBoard
        // wherever it reaches Jupyter, under Jupyter's authentication.
        const content = new IFrame({
          sandbox: ['allow-scripts', 'allow-same-origin', 'allow-popups', 'allow-downloads']
        });
        content.url = URLExt.join(PageConfig.getBaseUrl(), board.proxyPath);
        const widget = new MainAreaWidget({ content });
        widget.id = id;
        widget.title.label = `TensorBoard :${board.port}`;
        widget.title.caption = board.logdir;
        widget.title.icon = mlnbIcon;
        widget.title.closable = true;
        shell.add(widget, 'main');
      }
    });
    commands.addCommand(CommandIDs.stopTensorBoard, {
      label: 'mlnb: Stop a TensorBoard',
      isEnabled: args => !!sidebar.tensorboard(portArg(args)),
      execute: async args => {
        const port = portArg(args);
        await run(() => api.stopTensorBoard(port), `Stopped the TensorBoard on port ${port}`);
        await sidebar.refresh();
      }
    });

    const scheduleArg = (args: any) => args.schedule as string | undefined;
    commands.addCommand(CommandIDs.pauseSchedule, {
      label: 'mlnb: Pause a Schedule',
      isEnabled: args => sidebar.schedule(scheduleArg(args) ?? '')?.state === 'ACTIVE',
      execute: async args => {
        const name = scheduleArg(args);
        if (name) {
          await run(() => api.scheduleAction(name, 'pause'), `Paused schedule ${name}`);
          await sidebar.refresh();
        }
      }
    });
    commands.addCommand(CommandIDs.resumeSchedule, {
      label: 'mlnb: Resume a Schedule',
      isEnabled: args => sidebar.schedule(scheduleArg(args) ?? '')?.state === 'PAUSED',
      execute: async args => {
        const name = scheduleArg(args);
        if (name) {
          await run(() => api.scheduleAction(name, 'resume'), `Resumed schedule ${name}`);
          await sidebar.refresh();
        }
      }
    });
    commands.addCommand(CommandIDs.runSchedule, {
      label: "mlnb: Run a Schedule's Job Now",
      isEnabled: args => !!sidebar.schedule(scheduleArg(args) ?? ''),
      execute: async args => {
        const name = scheduleArg(args);
        if (name) {
          await run(async () => {
            const job = await api.runSchedule(name);
            sidebar.selection.job = job.jobId;
          }, `Submitted a run of ${name}`);
          await sidebar.refresh();
        }
      }
    });

    if (palette) {
      for (const command of Object.values(CommandIDs)) {
        palette.addItem({ command, category: 'mlnb' });
      }
    }
  }
};

export default plugin;
