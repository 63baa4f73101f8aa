// Misuse of the worker entry that the declarations must refuse.
import { installFerry, enqueue, FerryPlugin } from 'ferry-upload/worker';

declare const self: ServiceWorkerGlobalScope;

// @ts-expect-error the scope is the worker's global scope
installFerry({});
// @ts-expect-error installFerry takes no option of that name
installFerry(self, { debug: true });
// @ts-expect-error beforeSend is a function
installFerry(self, { beforeSend: 'soon' });
// @ts-expect-error beforeSend gives a url (string or URL) and headers, not a number
installFerry(self, { beforeSend: () => ({ url: 42 }) });
// @ts-expect-error enqueue needs the session tag
enqueue(new Request('/upload', { method: 'POST', body: 'x' }), {});
// @ts-expect-error enqueue takes a Request, not a URL
enqueue('/upload', { tag: 'photos' });
// @ts-expect-error the plugin needs { tag }
new FerryPlugin();
// @ts-expect-error tag is a string
new FerryPlugin({ tag: 7 });
// @ts-expect-error enqueue resolves with the task id, a string
enqueue(new Request('/upload'), { tag: 'photos' }).then((id: number) => id);
