'use strict';
// The post step of the cicache action: cache-save, unless there is nothing
// worth saving.  It saves when the main step recorded a key and
//   - the job has succeeded so far, or save-always is true; and
//   - the restore was not an exact hit, or immutable is false (a rolling
//     key: the entry is refreshed, and deduplication keeps that cheap).
// The job's status reaches this step through the job-status input, whose
// default ${{ job.status }} the runner evaluates again for the post step
// (action.yml runs it with post-if: always(), since post-if cannot see the
// action's inputs).
const common = require('./common');

function post() {
	const key = common.getState('primary_key');
	const dir = common.getState('bin');

	if (!key || !dir) {
		common.info('Not saving: the main step recorded no key (it did not run to the end)');
		return;
	}
	const saveAlways = common.getBool('save-always', false);
	const immutable = common.getBool('immutable', true);
	const status = common.getInput('job-status', false);

	if (common.getState('restore_code') === String(common.EXIT.USAGE)) {
		common.info('Not saving: the restore step had a usage error');
		return;
	}
	if (status !== 'success' && !saveAlways) {
		if (status === 'failure' || status === 'cancelled')
			common.info(`Not saving: the job status is ${status} (save-always: true saves anyway)`);
		else
			common.warning(`Not saving: the job status is unknown ('${status}'); ` +
				'save-always: true saves anyway');
		return;
	}
	if (common.getState('hit') === 'true' && immutable) {
		common.info(`Cache hit occurred on the primary key ${key}, not saving cache ` +
			'(immutable; immutable: false refreshes a rolling key)');
		return;
	}
	const matched = common.getState('matched_key');
	const restoreKeys = common.getList('restore-keys', false);

	// The entry the job restored is the best one to deduplicate against.
	if (matched && matched !== key && !restoreKeys.includes(matched))
		restoreKeys.unshift(matched);
	common.saveWith({
		dir,
		store: common.getState('store'),
		key,
		paths: common.getList('path', true),
		restoreKeys,
		immutable,
	});
}

common.main(post);
