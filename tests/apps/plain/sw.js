// No bundler, and import maps do not reach workers: the worker imports the package by its path.
import { installFerry } from '/node_modules/ferry-upload/worker.js';

installFerry(self, {});
