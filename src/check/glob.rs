//! Shell-style patterns for server names and fingerprints: `*` any run of characters
//! (dots included, so `*.example.com` also matches `a.b.example.com`), `?` one character,
//! compared without regard to ASCII case (DNS names are case-insensitive).

/// A compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
    text: String,
}

impl Glob {
    /// The pattern `text`.
    pub fn new(text: &str) -> Glob {
        Glob {
            pattern: text.to_ascii_lowercase().chars().collect(),
            text: text.to_string(),
        }
    }

    /// Whether the pattern has wildcards (a literal names one thing).
    pub fn is_literal(&self) -> bool {
        !self.pattern.iter().any(|&c| c == '*' || c == '?')
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `candidate` matches. Backtracking resumes only from the last `*`, so a match
    /// takes at most pattern × text steps, whatever the pattern.
    pub fn matches(&self, candidate: &str) -> bool {
        let text: Vec<char> = candidate.to_ascii_lowercase().chars().collect();
        let p = &self.pattern;
        let (mut pi, mut ti) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < text.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == text[ti]) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ti));
                pi += 1;
            } else if let Some((sp, st)) = star {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == '*')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_case() {
        let g = Glob::new("*.Example.com");
        assert!(g.matches("api.example.com"));
        assert!(g.matches("a.b.EXAMPLE.com"));
        assert!(!g.matches("example.com"));
        assert!(!g.matches("api.example.org"));
        assert!(Glob::new("t13d*_*").matches("t13d1516h2_8daaf6152771_e5627efa2ab1"));
        assert!(Glob::new("db?.internal").matches("db1.internal"));
        assert!(!Glob::new("db?.internal").matches("db12.internal"));
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("server.test").is_literal());
        assert!(!Glob::new("*.test").is_literal());
    }

    #[test]
    fn many_stars_stay_linear() {
        let g = Glob::new(&"*a".repeat(50));
        assert!(!g.matches(&"a".repeat(49)));
        assert!(g.matches(&"a".repeat(50)));
    }
}
