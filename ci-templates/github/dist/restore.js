'use strict';
// restore/: cache-restore only, no post step.
const common = require('./common');

common.main(() => common.restoreStep(false));
