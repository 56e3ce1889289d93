//! What makes two tenant or admin names the same name. Names are shown as they were typed but
//! compared by a key: Unicode NFKC (so `ｆｕｌｌ` is `full` and `ﬁ` is `fi`), then lowercase
//! (so `ACME` is `acme`). A name mixing scripts (`аcme` with a Cyrillic `а`) is refused
//! outright: it can pass for another name that its key does not match.

use unicode_normalization::UnicodeNormalization;
use unicode_security::MixedScript;

use super::error::DomainError;

/// The comparison key of a name: NFKC, lowercased, NFKC again (lowercasing can leave a string
/// that is not in NFKC). Two names with one key cannot both exist; lookups by name use it.
pub fn name_key(name: &str) -> String {
    let lower = name.nfkc().collect::<String>().to_lowercase();
    lower.nfkc().collect()
}

/// Refuses a name whose letters come from more than one script (Unicode's "single script"
/// test, in which digits and punctuation belong to every script and Han, Hiragana and
/// Katakana make one Japanese script).
pub fn single_script(name: &str, what: &str) -> Result<(), DomainError> {
    if name.is_single_script() {
        Ok(())
    } else {
        Err(DomainError::InvalidRequest(format!(
            "The {what} name mixes scripts (such as Latin and Cyrillic letters): use letters \
             of one script, so that no name can pass for another."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_case_and_compatibility_forms() {
        assert_eq!(name_key("ACME"), "acme");
        assert_eq!(name_key("ｆｕｌｌ"), "full");
        assert_eq!(name_key("Ελλάδα"), "ελλάδα");
        assert_ne!(name_key("аcme"), name_key("acme"));
    }

    #[test]
    fn one_script_per_name() {
        for ok in [
            "acme",
            "Acme 2",
            "Ελλάδα",
            "東京",
            "東京タワー",
            "ｆｕｌｌ",
            "a-b_c.d",
        ] {
            assert!(single_script(ok, "tenant").is_ok(), "{ok}");
        }
        for mixed in ["аcme", "acmeΩ", "東京acme"] {
            assert!(single_script(mixed, "tenant").is_err(), "{mixed}");
        }
    }
}
