// A page that shares types with its worker: the worker entry's declarations compile under the DOM lib too.
import type { EnqueueOptions, FerryWorkerScope, FetchDidFailParam } from 'ferry-upload/worker';

const options: EnqueueOptions = { tag: 'photos' };
// @ts-expect-error a plain object is not a worker scope
const scope: FerryWorkerScope = { registration: null };
const param: FetchDidFailParam | null = null;
console.log(options, scope, param);
