// Values the README's examples use without defining them (an app has its own): declared with the types an
// app would have, so the examples are checked as written. Ferry's own names are imported by the examples;
// `session` is the app's variable, what `Ferry.register` resolved with.
declare const file: File;
declare const files: FileList;
declare const blob: Blob;
declare const input: HTMLInputElement;
declare const token: string;
declare function freshToken(): Promise<string>;
declare function getToken(): Promise<string>;
declare const session: import('ferry-upload').Session;
