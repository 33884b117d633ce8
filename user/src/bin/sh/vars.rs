//! Shell variables: values, the export flag, and the environment built
//! from them for the commands the shell runs.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Var {
    /// None for a name that is exported but was never given a value.
    pub value: Option<String>,
    pub exported: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Vars {
    map: BTreeMap<String, Var>,
}

impl Vars {
    /// Variables from an environment ("NAME=value" strings), exported.
    pub fn from_env<'a>(env: impl Iterator<Item = &'a str>) -> Vars {
        let mut v = Vars::default();
        for kv in env {
            if let Some((k, val)) = kv.split_once('=')
                && crate::parse::is_name(k)
            {
                v.map.insert(k.into(), Var { value: Some(val.into()), exported: true });
            }
        }
        v
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).and_then(|v| v.value.as_deref())
    }

    pub fn set(&mut self, name: &str, value: &str) {
        let v = self.map.entry(name.into()).or_default();
        v.value = Some(value.into());
    }

    /// Mark `name` exported, giving it `value` if there is one.
    pub fn export(&mut self, name: &str, value: Option<&str>) {
        let v = self.map.entry(name.into()).or_default();
        v.exported = true;
        if let Some(val) = value {
            v.value = Some(val.into());
        }
    }

    pub fn unset(&mut self, name: &str) {
        self.map.remove(name);
    }

    pub fn raw(&self, name: &str) -> Option<&Var> {
        self.map.get(name)
    }

    /// Put back what [`Vars::raw`] returned before a temporary change.
    pub fn restore(&mut self, name: &str, old: Option<Var>) {
        match old {
            Some(v) => {
                self.map.insert(name.into(), v);
            }
            None => {
                self.map.remove(name);
            }
        }
    }

    /// The exported variables as "NAME=value", with `extra` assignments
    /// (a command's prefix) added over them.
    pub fn environ(&self, extra: &[(String, String)]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (k, v) in &self.map {
            if v.exported
                && let Some(val) = &v.value
                && !extra.iter().any(|(n, _)| n == k)
            {
                out.push(format!("{k}={val}"));
            }
        }
        for (i, (k, val)) in extra.iter().enumerate() {
            // The last of repeated names wins.
            if !extra[i + 1..].iter().any(|(n, _)| n == k) {
                out.push(format!("{k}={val}"));
            }
        }
        out
    }

    /// Every exported name, with its value if it has one (for `export`).
    pub fn exported(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.map.iter().filter(|(_, v)| v.exported).map(|(k, v)| (k.as_str(), v.value.as_deref()))
    }

    /// Every variable with a value (for `set`).
    pub fn all(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().filter_map(|(k, v)| Some((k.as_str(), v.value.as_deref()?)))
    }
}

/// `value` quoted for reading back by the shell: 'it'\''s'.
pub fn quote(value: &str) -> String {
    if !value.is_empty() && value.bytes().all(|c| c.is_ascii_alphanumeric() || b"_-./:,+=@%^".contains(&c)) {
        return value.into();
    }
    let mut o = String::from("'");
    for c in value.chars() {
        if c == '\'' {
            o.push_str("'\\''");
        } else {
            o.push(c);
        }
    }
    o.push('\'');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment() {
        let mut v = Vars::from_env(["PATH=/bin", "HOME=/", "bad name=x", "EQ=a=b", "noeq"].into_iter());
        assert_eq!(v.get("PATH"), Some("/bin"));
        assert_eq!(v.get("EQ"), Some("a=b"));
        assert_eq!(v.get("bad name"), None);
        v.set("LOCAL", "1");
        v.export("LATER", None);
        v.set("HOME", "/root");
        assert_eq!(v.environ(&[]), ["EQ=a=b", "HOME=/root", "PATH=/bin"]);
        v.set("LATER", "now");
        let extra = [("X".into(), "1".into()), ("HOME".into(), "/tmp".into()), ("X".into(), "2".into())];
        assert_eq!(v.environ(&extra), ["EQ=a=b", "LATER=now", "PATH=/bin", "HOME=/tmp", "X=2"]);
        let old = v.raw("HOME").cloned();
        v.unset("HOME");
        assert_eq!(v.get("HOME"), None);
        v.restore("HOME", old);
        assert_eq!(v.get("HOME"), Some("/root"));
        v.restore("NEW", None);
        assert_eq!(v.exported().count(), 4);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
