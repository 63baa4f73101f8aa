// A classic service worker (registered with type 'classic'): Ferry arrives through importScripts.
importScripts('/ferry/ferry-sw.js');
ferry.installFerry(self, {});
