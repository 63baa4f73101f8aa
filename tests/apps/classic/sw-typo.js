// Not part of the app: a classic worker whose importScripts path is wrong (classic.test.mjs checks what
// Ferry.register says of it).
importScripts('/ferry/ferry-sw.jss');
ferry.installFerry(self, {});
