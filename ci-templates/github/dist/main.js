'use strict';
// The main step of the cicache action: restore, and record in GITHUB_STATE
// what the post step (post.js) needs to save.
const common = require('./common');

common.main(() => common.restoreStep(true));
