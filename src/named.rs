//! Enums whose variants have stable names (for JavaScript, the CLI and JSON), each name written
//! once, beside its variant.

/// Declares a fieldless enum with `as_str`, `from_name` and `ALL`, from `Variant = "name"` pairs.
macro_rules! named_enum {
  (
    $(#[$meta:meta])*
    pub enum $name:ident {
      $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)*
    }
  ) => {
    $(#[$meta])*
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum $name {
      $($(#[$variant_meta])* $variant,)*
    }

    impl $name {
      /// Every variant, in declaration order.
      pub const ALL: &'static [$name] = &[$($name::$variant,)*];

      /// The variant's stable name.
      pub fn as_str(self) -> &'static str {
        match self {
          $($name::$variant => $text,)*
        }
      }

      /// The variant named `name`, if any.
      pub fn from_name(name: &str) -> Option<$name> {
        Self::ALL.iter().copied().find(|v| v.as_str() == name)
      }
    }
  };
}

pub(crate) use named_enum;
