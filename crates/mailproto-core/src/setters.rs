//! One style for every configuration type: `#[non_exhaustive]` with `Default` (or a
//! constructor), public fields, and a chainable `with_*` setter per field, generated
//! here so that adding an option is never a breaking change and every setter reads the
//! same way.

/// `with_*` setters for a configuration type, one per field, each with its mode:
///
/// - `set`: takes the field's type (numbers, flags, durations, policies);
/// - `into`: takes anything `Into` it (text, lists, optional limits that take the value
///   or `None`);
/// - `some`: stores the value given as `Some` (optional settings off by default);
/// - `some_into`: the same from anything `Into` the inner type (optional text).
///
/// ```text
/// setters!(ServerLimits { set with_max_errors: max_errors: u32, ... });
/// ```
macro_rules! setters {
    ($ty:ty { $($mode:ident $setter:ident: $field:ident: $t:ty),* $(,)? }) => {
        impl $ty {
            $( crate::setters::setter!($mode $setter $field $t); )*
        }
    };
}

/// One setter of [`setters!`].
macro_rules! setter {
    (set $setter:ident $field:ident $t:ty) => {
        #[doc = concat!("Set [`", stringify!($field), "`](Self::", stringify!($field), ").")]
        #[must_use]
        pub fn $setter(mut self, value: $t) -> Self {
            self.$field = value;
            self
        }
    };
    (into $setter:ident $field:ident $t:ty) => {
        #[doc = concat!("Set [`", stringify!($field), "`](Self::", stringify!($field), ").")]
        #[must_use]
        pub fn $setter(mut self, value: impl Into<$t>) -> Self {
            self.$field = value.into();
            self
        }
    };
    (some $setter:ident $field:ident $t:ty) => {
        #[doc = concat!("Set [`", stringify!($field), "`](Self::", stringify!($field), ") to `Some`.")]
        #[must_use]
        pub fn $setter(mut self, value: $t) -> Self {
            self.$field = Some(value);
            self
        }
    };
    (some_into $setter:ident $field:ident $t:ty) => {
        #[doc = concat!("Set [`", stringify!($field), "`](Self::", stringify!($field), ") to `Some`.")]
        #[must_use]
        pub fn $setter(mut self, value: impl Into<$t>) -> Self {
            self.$field = Some(value.into());
            self
        }
    };
}

pub(crate) use {setter, setters};
