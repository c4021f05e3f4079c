// The offline-first task list: a typed local store on IndexedDB, synced through the server, rendered from live queries.

import { IndexedDbStorage, SyncClient, type ClientEvent } from 'sync-server-client/browser';
import { openStore, type Project, type Task } from './model.js';

const params = new URLSearchParams(location.search);
/** The sync server; `?server=ws://host:port` overrides the default port 9999 on this page's host. */
const SERVER = params.get('server') ?? `ws://${location.hostname || '127.0.0.1'}:9999`;
/** The IndexedDB database; `?db=name` lets several local users share one browser profile. */
const DB = params.get('db') ?? 'todo-web';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

async function main(): Promise<void> {
  const store = await openStore(await IndexedDbStorage.open(DB));
  const client = new SyncClient(store, { url: SERVER });
  (window as unknown as { todo: unknown }).todo = { store, client };

  const status = $<HTMLSpanElement>('status');
  const showStatus = () => {
    const queued = store.queueLength();
    let state = 'offline';
    let text = 'offline';
    if (client.state === 'loggedIn') {
      state = client.isSynced() ? 'synced' : 'syncing';
      text = client.isSynced() ? 'synced' : `syncing (${queued} to send)`;
    } else if (queued > 0) {
      text = `offline · ${queued} change${queued === 1 ? '' : 's'} to send`;
    }
    status.dataset['state'] = state;
    status.textContent = text;
  };
  client.on((event: ClientEvent) => {
    if (event.type === 'loginFailed') $('footer').textContent = `Login refused: ${event.codeName} ${event.message}`;
    showStatus();
  });
  store.onChange(showStatus);

  // Declarations first: the live queries below call their listeners at once.
  const select = $<HTMLSelectElement>('project');
  let projects: Project[] = [];
  let tasks: Task[] = [];
  const list = $<HTMLUListElement>('tasks');
  const showDone = $<HTMLInputElement>('show-done');
  const renderTasks = () => {
    const visible = tasks.filter((t) => showDone.checked || t.dateFinished === null);
    list.replaceChildren(...visible.map(taskItem));
    $('empty').hidden = visible.length > 0;
  };
  const taskItem = (task: Task) => {
    const li = document.createElement('li');
    li.className = task.dateFinished === null ? 'open' : 'done';
    li.dataset['id'] = String(task.id);
    const done = document.createElement('input');
    done.type = 'checkbox';
    done.checked = task.dateFinished !== null;
    done.setAttribute('aria-label', `finished: ${task.text}`);
    done.addEventListener('change', () => {
      void store.put('Task', { ...task, dateFinished: done.checked ? Date.now() : null });
    });
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = task.text;
    li.append(done, text);
    const project = projects.find((p) => p.id === task.projectId);
    if (project) {
      const tag = document.createElement('span');
      tag.className = 'project';
      tag.textContent = project.name;
      li.append(tag);
    }
    const remove = document.createElement('button');
    remove.className = 'delete';
    remove.textContent = '✕';
    remove.setAttribute('aria-label', `delete: ${task.text}`);
    remove.addEventListener('click', () => void store.remove('Task', task.id));
    li.append(remove);
    return li;
  };

  // Projects: a select that follows the Project entity.
  store.query('Project').orderBy('name').subscribe((rows) => {
    projects = rows;
    const current = select.value;
    select.replaceChildren(new Option('(no project)', ''), ...rows.map((p) => new Option(p.name ?? '', String(p.id))));
    select.value = rows.some((p) => String(p.id) === current) ? current : select.value;
    renderTasks();
  });
  $<HTMLFormElement>('new-project').addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = $<HTMLInputElement>('project-name');
    const name = input.value.trim();
    if (!name) return;
    input.value = '';
    const id = await store.put('Project', { name, color: 0 });
    select.value = String(id);
  });

  // Tasks: a live query, newest first.
  store.query('Task').orderBy('dateCreated', 'desc').subscribe((rows) => {
    tasks = rows;
    renderTasks();
  });
  showDone.addEventListener('change', renderTasks);
  $<HTMLFormElement>('new-task').addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = $<HTMLInputElement>('task-text');
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    await store.put('Task', { text, dateCreated: Date.now(), projectId: select.value ? Number(select.value) : null });
  });

  $('footer').textContent = `Server ${SERVER} · local database "${DB}" · peer ${store.peerId.toString(16)}`;
  showStatus();
  client.start();
  document.body.dataset['ready'] = 'true';
}

main().catch((e: Error) => {
  $('footer').textContent = `Failed to start: ${e.message}`;
  throw e;
});
