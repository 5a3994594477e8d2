'use strict'
// Argument checks and errors with stable codes, shared by every method.

function storeError(code, message, extra) {
  const err = new Error(message)
  err.code = code
  return Object.assign(err, extra)
}

function describe(value) {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return `an instance of ${value.constructor ? value.constructor.name : 'Object'}`
  if (typeof value === 'string') return `a string (${JSON.stringify(value.slice(0, 40))})`
  return `${typeof value} (${String(value)})`
}

function invalidArgType(name, expected, actual) {
  const err = new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`)
  err.code = 'ERR_INVALID_ARG_TYPE'
  return err
}

function invalidArgValue(name, why) {
  const err = new TypeError(`The "${name}" argument ${why}`)
  err.code = 'ERR_INVALID_ARG_VALUE'
  return err
}

/** Ids are opaque strings; the native side checks that they are one safe path segment. */
function checkId(id) {
  if (typeof id !== 'string') {
    throw storeError('EINVALIDID', `invalid job id: expected a string from create(), got ${describe(id)}`)
  }
  return id
}

/** JSON text of `value`, or an error naming the argument. */
function toJson(name, value) {
  let text
  try {
    text = JSON.stringify(value)
  } catch (cause) {
    const err = invalidArgValue(name, `cannot be stored as JSON: ${cause.message}`)
    err.cause = cause
    throw err
  }
  if (text === undefined) {
    throw invalidArgValue(name, `must be a JSON value (object, array, string, number, boolean or null). Received ${describe(value)}`)
  }
  return text
}

/** The bytes of a job's value: strings as UTF-8, Buffers and typed arrays as they are. */
function toBytes(name, value) {
  if (Buffer.isBuffer(value)) return value
  if (typeof value === 'string') return Buffer.from(value, 'utf8')
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  throw invalidArgType(name, 'a string, Buffer, TypedArray or DataView', value)
}

module.exports = { storeError, invalidArgType, invalidArgValue, checkId, toJson, toBytes }
