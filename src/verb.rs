//! The verbs this crate knows, as a plain `Copy` enum, and their case-insensitive lookup.
//!
//! Every known FTP verb is three or four ASCII letters, so lookup folds the verb into a
//! `u32` and matches on constants: no allocation, no string comparison loop.

/// Declares `Verb` with its wire spelling and the RFC that defines it.
macro_rules! verbs {
    ($($variant:ident = $text:literal, $rfc:literal;)*) => {
        /// An FTP command verb known to this crate.
        ///
        /// Verbs the crate does not know are kept as text in
        /// [`Command::Unknown`](crate::Command::Unknown).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Verb {
            $(
                #[doc = concat!("`", $text, "` (", $rfc, ").")]
                $variant,
            )*
        }

        impl Verb {
            /// Every known verb, in declaration order.
            pub const ALL: &'static [Verb] = &[$(Verb::$variant),*];

            /// The verb as sent on the wire, in upper case.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Verb::$variant => $text,)*
                }
            }

            /// Looks a verb up, ignoring ASCII case; `None` for verbs this crate does not know.
            ///
            /// ```
            /// use ftp_proto::Verb;
            /// assert_eq!(Verb::from_bytes(b"retr"), Some(Verb::Retr));
            /// assert_eq!(Verb::from_bytes(b"XYZZY"), None);
            /// ```
            #[inline]
            pub fn from_bytes(verb: &[u8]) -> Option<Verb> {
                #![allow(non_upper_case_globals)]
                let key = fold(verb)?;
                $(
                    const $variant: u32 = fold_const($text.as_bytes());
                )*
                match key {
                    $($variant => Some(Verb::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

verbs! {
    User = "USER", "RFC 959";
    Pass = "PASS", "RFC 959";
    Acct = "ACCT", "RFC 959";
    Cwd = "CWD", "RFC 959";
    Cdup = "CDUP", "RFC 959";
    Smnt = "SMNT", "RFC 959";
    Rein = "REIN", "RFC 959";
    Quit = "QUIT", "RFC 959";
    Port = "PORT", "RFC 959";
    Pasv = "PASV", "RFC 959";
    Type = "TYPE", "RFC 959";
    Stru = "STRU", "RFC 959";
    Mode = "MODE", "RFC 959";
    Retr = "RETR", "RFC 959";
    Stor = "STOR", "RFC 959";
    Stou = "STOU", "RFC 959";
    Appe = "APPE", "RFC 959";
    Allo = "ALLO", "RFC 959";
    Rest = "REST", "RFC 959, RFC 3659";
    Rnfr = "RNFR", "RFC 959";
    Rnto = "RNTO", "RFC 959";
    Abor = "ABOR", "RFC 959";
    Dele = "DELE", "RFC 959";
    Rmd = "RMD", "RFC 959";
    Mkd = "MKD", "RFC 959";
    Pwd = "PWD", "RFC 959";
    List = "LIST", "RFC 959";
    Nlst = "NLST", "RFC 959";
    Site = "SITE", "RFC 959";
    Syst = "SYST", "RFC 959";
    Stat = "STAT", "RFC 959";
    Help = "HELP", "RFC 959";
    Noop = "NOOP", "RFC 959";
    Xcup = "XCUP", "RFC 1123";
    Xcwd = "XCWD", "RFC 1123";
    Xmkd = "XMKD", "RFC 1123";
    Xpwd = "XPWD", "RFC 1123";
    Xrmd = "XRMD", "RFC 1123";
    Auth = "AUTH", "RFC 2228";
    Adat = "ADAT", "RFC 2228";
    Prot = "PROT", "RFC 2228";
    Pbsz = "PBSZ", "RFC 2228";
    Ccc = "CCC", "RFC 2228";
    Mic = "MIC", "RFC 2228";
    Conf = "CONF", "RFC 2228";
    Enc = "ENC", "RFC 2228";
    Feat = "FEAT", "RFC 2389";
    Opts = "OPTS", "RFC 2389";
    Eprt = "EPRT", "RFC 2428";
    Epsv = "EPSV", "RFC 2428";
    Lang = "LANG", "RFC 2640";
    Size = "SIZE", "RFC 3659";
    Mdtm = "MDTM", "RFC 3659";
    Mlst = "MLST", "RFC 3659";
    Mlsd = "MLSD", "RFC 3659";
    Host = "HOST", "RFC 7151";
    Mfmt = "MFMT", "draft-somers-ftp-mfxx";
    Hash = "HASH", "draft-bryan-ftpext-hash";
    Clnt = "CLNT", "common extension";
}

/// What a verb's argument must be, before the argument's own grammar applies. The
/// parser and the encoder both follow it, so that they agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArgumentRule {
    /// No argument (an empty one is tolerated on input: `NOOP ` is `NOOP`).
    Nothing,
    /// A non-empty argument.
    Required,
    /// An argument that may be absent or empty.
    Optional,
}

impl Verb {
    /// Whether the verb needs a non-empty argument (`RETR`, `CWD`, `USER`...): the
    /// parser answers 501 without one and the encoder refuses to send one empty.
    ///
    /// ```
    /// use ftp_proto::Verb;
    /// assert!(Verb::Retr.requires_argument());
    /// assert!(!Verb::List.requires_argument());
    /// assert!(!Verb::Pass.requires_argument()); // an empty password is a password
    /// ```
    pub fn requires_argument(self) -> bool {
        self.argument_rule() == ArgumentRule::Required
    }

    /// What this verb's argument must be.
    pub(crate) fn argument_rule(self) -> ArgumentRule {
        use Verb::*;
        match self {
            Cdup | Rein | Quit | Pasv | Abor | Pwd | Syst | Noop | Xcup | Xpwd | Ccc | Feat => {
                ArgumentRule::Nothing
            }
            Pass | Stou | List | Nlst | Stat | Help | Lang | Mlst | Mlsd | Epsv => {
                ArgumentRule::Optional
            }
            _ => ArgumentRule::Required,
        }
    }
}

/// Folds a 1-4 letter verb to upper case and packs it into a `u32`; `None` otherwise.
#[inline]
fn fold(verb: &[u8]) -> Option<u32> {
    if verb.is_empty() || verb.len() > 4 {
        return None;
    }
    let mut key = 0u32;
    for &byte in verb {
        if !byte.is_ascii_alphabetic() {
            return None;
        }
        key = (key << 8) | u32::from(byte.to_ascii_uppercase());
    }
    Some(key)
}

/// The `const` twin of [`fold`] for the match arms (inputs are known upper-case verbs).
const fn fold_const(verb: &[u8]) -> u32 {
    let mut key = 0u32;
    let mut index = 0;
    while index < verb.len() {
        key = (key << 8) | verb[index] as u32;
        index += 1;
    }
    key
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verb_is_found_in_any_case() {
        for &verb in Verb::ALL {
            let upper = verb.as_str();
            assert_eq!(Verb::from_bytes(upper.as_bytes()), Some(verb));
            let lower = upper.to_ascii_lowercase();
            assert_eq!(Verb::from_bytes(lower.as_bytes()), Some(verb));
        }
    }

    #[test]
    fn non_verbs_are_not_found() {
        for text in [&b""[..], b"RETRY", b"RE1R", b"R\xffTR", b"NOOP ", b"ABCD"] {
            assert_eq!(Verb::from_bytes(text), None, "{}", text.escape_ascii());
        }
    }
}
