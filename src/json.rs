//! The one rule for the JSON a store keeps (requests and targets), and JavaScript's equality of
//! parsed JSON for `unqueue`.
//!
//! The store accepts what `JSON.stringify` writes, nested at most [`MAX_DEPTH`] levels. That
//! includes strings with lone UTF-16 surrogates (`"\ud800"`), which serde_json's `Value` cannot
//! hold, so targets are compared here through a small tree whose strings are UTF-16 code units,
//! exactly as JavaScript sees them.

/// How deep arrays and objects may nest in a request or a target.
pub const MAX_DEPTH: usize = 128;

/// A parsed JSON value, compared as `deep-equal` (strict) compares `JSON.parse` results: object
/// keys in any order, numbers by value.
#[derive(Debug)]
pub enum Json {
  Null,
  Bool(bool),
  Number(f64),
  String(Vec<u16>),
  Array(Vec<Json>),
  /// Keys are unique: a repeated key keeps its last value, as `JSON.parse` does.
  Object(Vec<(Vec<u16>, Json)>),
}

impl PartialEq for Json {
  fn eq(&self, other: &Json) -> bool {
    match (self, other) {
      (Json::Null, Json::Null) => true,
      (Json::Bool(a), Json::Bool(b)) => a == b,
      (Json::Number(a), Json::Number(b)) => a == b,
      (Json::String(a), Json::String(b)) => a == b,
      (Json::Array(a), Json::Array(b)) => a == b,
      (Json::Object(a), Json::Object(b)) => {
        a.len() == b.len()
          && a
            .iter()
            .all(|(key, value)| b.iter().any(|(k, v)| k == key && v == value))
      }
      _ => false,
    }
  }
}

/// Why a text is not JSON the store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
  TooDeep(usize),
  Invalid(String),
}

impl std::fmt::Display for Refusal {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match self {
      Refusal::TooDeep(depth) => write!(
        f,
        "it is nested more than {depth} levels deep; requests and targets may nest at most {MAX_DEPTH} levels"
      ),
      Refusal::Invalid(why) => write!(f, "it is not valid JSON ({why})"),
    }
  }
}

/// How deeply arrays and objects nest in the JSON text `text` (0 for a scalar). Linear, and
/// needs no parse: strings are skipped by their quotes.
pub fn depth(text: &str) -> usize {
  let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
  for byte in text.bytes() {
    if in_string {
      match byte {
        _ if escaped => escaped = false,
        b'\\' => escaped = true,
        b'"' => in_string = false,
        _ => {}
      }
      continue;
    }
    match byte {
      b'"' => in_string = true,
      b'[' | b'{' => {
        depth += 1;
        deepest = deepest.max(depth);
      }
      b']' | b'}' => depth = depth.saturating_sub(1),
      _ => {}
    }
  }
  deepest
}

/// Refuses JSON text nested deeper than [`MAX_DEPTH`].
pub fn check_depth(text: &str) -> Result<(), Refusal> {
  match depth(text) {
    d if d > MAX_DEPTH => Err(Refusal::TooDeep(MAX_DEPTH)),
    _ => Ok(()),
  }
}

/// Parses one JSON value (with nothing after it but whitespace), nested at most [`MAX_DEPTH`].
pub fn parse(text: &str) -> Result<Json, Refusal> {
  check_depth(text)?;
  parse_unchecked(text)
}

/// Parses a JSON array of values that may each nest [`MAX_DEPTH`] levels (a list of targets).
pub fn parse_list(text: &str) -> Result<Vec<Json>, Refusal> {
  if depth(text) > MAX_DEPTH + 1 {
    return Err(Refusal::TooDeep(MAX_DEPTH));
  }
  match parse_unchecked(text)? {
    Json::Array(items) => Ok(items),
    _ => Err(Refusal::Invalid("not an array".into())),
  }
}

fn parse_unchecked(text: &str) -> Result<Json, Refusal> {
  let mut parser = Parser {
    bytes: text.as_bytes(),
    at: 0,
  };
  let value = parser.value()?;
  parser.skip_space();
  if parser.at != parser.bytes.len() {
    return Err(parser.fail("unexpected text after the value"));
  }
  Ok(value)
}

struct Parser<'a> {
  bytes: &'a [u8],
  at: usize,
}

impl Parser<'_> {
  fn fail(&self, why: &str) -> Refusal {
    Refusal::Invalid(format!("{why} at byte {}", self.at))
  }

  fn skip_space(&mut self) {
    while self
      .bytes
      .get(self.at)
      .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
      self.at += 1;
    }
  }

  fn eat(&mut self, byte: u8) -> bool {
    self.skip_space();
    if self.bytes.get(self.at) == Some(&byte) {
      self.at += 1;
      true
    } else {
      false
    }
  }

  fn literal(&mut self, word: &str, value: Json) -> Result<Json, Refusal> {
    if self.bytes[self.at..].starts_with(word.as_bytes()) {
      self.at += word.len();
      Ok(value)
    } else {
      Err(self.fail("unexpected character"))
    }
  }

  fn value(&mut self) -> Result<Json, Refusal> {
    self.skip_space();
    match self.bytes.get(self.at) {
      None => Err(self.fail("unexpected end")),
      Some(b'n') => self.literal("null", Json::Null),
      Some(b't') => self.literal("true", Json::Bool(true)),
      Some(b'f') => self.literal("false", Json::Bool(false)),
      Some(b'"') => self.string().map(Json::String),
      Some(b'[') => {
        self.at += 1;
        let mut items = Vec::new();
        if self.eat(b']') {
          return Ok(Json::Array(items));
        }
        loop {
          items.push(self.value()?);
          if self.eat(b']') {
            return Ok(Json::Array(items));
          }
          if !self.eat(b',') {
            return Err(self.fail("expected ',' or ']'"));
          }
        }
      }
      Some(b'{') => {
        self.at += 1;
        let mut fields: Vec<(Vec<u16>, Json)> = Vec::new();
        if self.eat(b'}') {
          return Ok(Json::Object(fields));
        }
        loop {
          self.skip_space();
          if self.bytes.get(self.at) != Some(&b'"') {
            return Err(self.fail("expected a key"));
          }
          let key = self.string()?;
          if !self.eat(b':') {
            return Err(self.fail("expected ':'"));
          }
          let value = self.value()?;
          match fields.iter_mut().find(|(k, _)| *k == key) {
            Some(field) => field.1 = value,
            None => fields.push((key, value)),
          }
          if self.eat(b'}') {
            return Ok(Json::Object(fields));
          }
          if !self.eat(b',') {
            return Err(self.fail("expected ',' or '}'"));
          }
        }
      }
      Some(_) => self.number(),
    }
  }

  fn number(&mut self) -> Result<Json, Refusal> {
    let start = self.at;
    while self
      .bytes
      .get(self.at)
      .is_some_and(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
    {
      self.at += 1;
    }
    let text = std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or("");
    // serde_json checks the grammar (no leading zeros, no bare '.'), then Rust's parse the value.
    match serde_json::from_str::<serde_json::Number>(text) {
      Ok(_) if !text.is_empty() => text
        .parse::<f64>()
        .map(Json::Number)
        .map_err(|_| self.fail("bad number")),
      _ => Err(self.fail("unexpected character")),
    }
  }

  /// A string's UTF-16 code units; the cursor is on its opening quote.
  fn string(&mut self) -> Result<Vec<u16>, Refusal> {
    self.at += 1;
    let mut units = Vec::new();
    loop {
      let start = self.at;
      while self
        .bytes
        .get(self.at)
        .is_some_and(|&b| b != b'"' && b != b'\\' && b >= 0x20)
      {
        self.at += 1;
      }
      let plain =
        std::str::from_utf8(&self.bytes[start..self.at]).map_err(|_| self.fail("invalid UTF-8"))?;
      units.extend(plain.encode_utf16());
      match self.bytes.get(self.at) {
        Some(b'"') => {
          self.at += 1;
          return Ok(units);
        }
        Some(b'\\') => {
          let escape = *self
            .bytes
            .get(self.at + 1)
            .ok_or_else(|| self.fail("unexpected end"))?;
          self.at += 2;
          units.push(match escape {
            b'"' => 0x22,
            b'\\' => 0x5c,
            b'/' => 0x2f,
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => 0x0a,
            b'r' => 0x0d,
            b't' => 0x09,
            b'u' => {
              let hex = self
                .bytes
                .get(self.at..self.at + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u16::from_str_radix(h, 16).ok())
                .ok_or_else(|| self.fail("bad \\u escape"))?;
              self.at += 4;
              hex
            }
            _ => return Err(self.fail("bad escape")),
          });
        }
        _ => return Err(self.fail("unterminated string")),
      }
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn equality_is_javascripts_on_parsed_json() {
    let same = [
      (r#"{"a":1,"b":[2,"x"]}"#, r#"{ "b": [2, "x"], "a": 1.0 }"#),
      (r#""\ud800""#, r#""\uD800""#),
      (r#""A""#, r#""\u0041""#),
      (r#"{"a":1,"a":2}"#, r#"{"a":2}"#),
    ];
    for (a, b) in same {
      assert_eq!(parse(a).unwrap(), parse(b).unwrap(), "{a} == {b}");
    }
    let different = [
      (r#"{"a":1}"#, r#"{"a":1,"b":2}"#),
      ("[1,2]", "[2,1]"),
      (r#""\ud800""#, r#""\ud801""#),
      ("1", r#""1""#),
      ("null", "false"),
    ];
    for (a, b) in different {
      assert_ne!(parse(a).unwrap(), parse(b).unwrap(), "{a} != {b}");
    }
  }

  #[test]
  fn depth_is_counted_outside_strings_and_limited() {
    assert_eq!(depth(r#"[{"a":"[[[["}]"#), 2);
    assert_eq!(depth(r#""\"[""#), 0);
    let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
    parse(&deep).unwrap();
    let deeper = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
    assert_eq!(parse(&deeper).unwrap_err(), Refusal::TooDeep(MAX_DEPTH));
  }

  #[test]
  fn broken_text_is_refused() {
    for bad in ["", "[1,", "{\"a\" 1}", "01", "\"abc", "[1] x", "nul"] {
      assert!(matches!(parse(bad), Err(Refusal::Invalid(_))), "{bad:?}");
    }
  }
}
