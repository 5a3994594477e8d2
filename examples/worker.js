// Job fulfillment, as 1.2.0's README teaches it (callbacks, run unchanged on version 2): pulls
// a job, works out the sum it asks for, fulfils it, releases it, and looks for the next one.
//
//   JOB_STORE_DIR=./jobs node worker.js
//
// With nothing to do it looks again every RETRY_MS (default 10 s, as in the README). Set
// EXIT_WHEN_IDLE_MS to stop once it has found nothing to do for that long.
var JobStore = require('fs-job-store');

var dir = process.env.JOB_STORE_DIR || 'job-store';
var RETRY_MS = Number(process.env.RETRY_MS) || 1000 * 10;
var EXIT_WHEN_IDLE_MS = Number(process.env.EXIT_WHEN_IDLE_MS) || 0;
var idle_since = Date.now();

//create job store
var store = new JobStore({ dir: dir });

// the work: `request.calculate` is a sum such as '3+6'
function work(request) {
  var terms = String(request.calculate).split('+');
  var total = 0;
  for (var i = 0; i < terms.length; i++) total += Number(terms[i]);
  return String(total);
}

function getAJob() {
  store.pullJob(function (pull_error, job) {
    // if there is a problem, retry in a couple seconds
    if (pull_error) {
      console.log(pull_error);
      setTimeout(getAJob, RETRY_MS);
      return;
    }
    // if job === undefined we did not get a job
    if (job === undefined) {
      // nothing scheduled any more: the process ends by itself
      if (EXIT_WHEN_IDLE_MS && Date.now() - idle_since >= EXIT_WHEN_IDLE_MS) return;
      setTimeout(getAJob, RETRY_MS);
      return;
    }
    // otherwise we have a job to do

    // we are using locks to assure that we are the exclusive worker for a job
    // this is *optional* but *recommended*
    job.oncompromised = function (err) {
      // stop work
      console.log('lost job ' + job.id + ': ' + err.message);
    };

    // do work ...
    var result_string_or_buffer = work(job.request);

    // values for results are stored as Buffers, so you should pass in a string or buffer
    store.fulfill(job.id, result_string_or_buffer, function (fulfillment_error) {
      if (fulfillment_error) console.log(fulfillment_error);
      else console.log('worker ' + process.pid + ': ' + job.id + ' ' + job.request.calculate + ' = ' + result_string_or_buffer);
      // release our lock on trying to do the job
      // we should do this regardless if we get a fulfillment error
      job.release();
      idle_since = Date.now();
      // there may be more work: look again at once
      getAJob();
    });
  });
}
getAJob();
