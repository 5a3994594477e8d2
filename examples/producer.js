// Job creation, as 1.2.0's README teaches it (callbacks, run unchanged on version 2): creates
// jobs that ask for a sum, and queues for each someone to be told the answer.
//
//   JOB_STORE_DIR=./jobs node producer.js [count]     (count defaults to 3)
var JobStore = require('fs-job-store');

var dir = process.env.JOB_STORE_DIR || 'job-store';
var count = Number(process.argv[2] || 3);

//create job store
var store = new JobStore({ dir: dir });

//accept multiple jobs
function addJob(json_value_representing_request_for_work, target, callback) {
  store.create(json_value_representing_request_for_work, function created(creation_err, job_description) {
    // this does not lock our job, use pullJob
    if (creation_err) return callback(creation_err);
    // ask for the value to be sent to `target` once a worker has fulfilled the job
    store.queue(job_description.id, target, function (queue_err) {
      callback(queue_err, job_description);
    });
  });
}

function addJobs(n) {
  if (n > count) return;
  var request = { calculate: n + '+' + n * 2 };
  var target = { email: 'client' + n + '@example.com' };
  addJob(request, target, function (err, job_description) {
    if (err) {
      console.log(err);
      process.exitCode = 1;
      return;
    }
    console.log('created ' + job_description.id + ': ' + request.calculate + ' for ' + target.email);
    addJobs(n + 1);
  });
}
addJobs(1);
