'use strict';
// save/: cache-save whenever the step runs.
const common = require('./common');

common.main(() => common.saveStep());
