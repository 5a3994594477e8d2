// Fulfillment notification, as 1.2.0's README teaches it (callbacks, run unchanged on version
// 2): pulls a fulfilled job that has targets waiting, "sends" each its value, and tells the
// store which targets were served.
//
//   JOB_STORE_DIR=./jobs node notifier.js
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

// the notification: a real one would send a mail; this one prints what it would send
function notify(target, notification) {
  if (!target || typeof target.email !== 'string') return false;
  console.log('sent ' + notification.value.toString() + ' to ' + target.email + ' for ' + notification.id);
  return true;
}

function getANotification() {
  store.pullNotification(function (pull_error, notification) {
    // if there is a problem, retry in a couple seconds
    if (pull_error) {
      console.log(pull_error);
      setTimeout(getANotification, RETRY_MS);
      return;
    }
    // if notification === undefined we did not get one
    if (notification === undefined) {
      // nothing scheduled any more: the process ends by itself
      if (EXIT_WHEN_IDLE_MS && Date.now() - idle_since >= EXIT_WHEN_IDLE_MS) return;
      setTimeout(getANotification, RETRY_MS);
      return;
    }
    // otherwise we have notifications to do

    // we are using locks to assure that we are the exclusive worker for a notification
    // this is *optional* but *recommended*
    notification.oncompromised = function (err) {
      // stop working
      console.log('lost notification ' + notification.id + ': ' + err.message);
    };

    // notify things
    var to_remove = [];
    for (var i = 0; i < notification.waiting.length; i++) {
      var target = notification.waiting[i];
      var success = notify(target, notification);
      if (success) {
        to_remove.push(target);
      }
    }

    // tell the store to remove any notifications that were successful (to_remove)
    // stores will ignore error arguments generally
    notification.done(null, to_remove, function (unqueue_error) {
      if (unqueue_error) console.log(unqueue_error);
      if (to_remove.length === 0) {
        // nothing could be sent: the targets stay queued, try again later
        setTimeout(getANotification, RETRY_MS);
        return;
      }
      idle_since = Date.now();
      // there may be more to send: look again at once
      getANotification();
    });
  });
}
getANotification();
