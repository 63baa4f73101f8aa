// Values the README's examples use without defining them (an app has its own): declared with the types an
// app would have, so the examples are checked as written. Names only: nothing of Ferry's is declared here.
declare const file: File;
declare const files: FileList;
declare const blob: Blob;
declare const input: HTMLInputElement;
declare const token: string;
declare function freshToken(): Promise<string>;
declare function getToken(): Promise<string>;
