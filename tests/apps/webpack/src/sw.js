import { installFerry } from 'ferry-upload/worker';

installFerry(self, {});
