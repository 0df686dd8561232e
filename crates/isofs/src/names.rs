//! File identifiers: the ISO 9660 level 3 names and Joliet names xorriso 1.5.4
//! derives from a POSIX name with `-l -iso-level 3 -J -joliet-long` and its default
//! compliance flags (upper case d-characters, forced dot for files, dots allowed in
//! directory names, no Joliet forced dots, 103 Joliet characters).
//!
//! Input names are taken as bytes in the C locale's character set (ASCII), which is
//! how the recipe runs xorriso (`LC_ALL=C`): libisofs's iconv conversion fails on
//! every byte of 0x80 or more and puts one `_` in its place, in the ISO 9660 name and
//! in the Joliet name alike. Rock Ridge names keep the bytes as they are.

use std::collections::HashSet;

/// Longest Joliet name (in UTF-16 code units) with `-joliet-long`.
pub const JOLIET_MAX: usize = 103;
/// Limit used when resolving ISO name collisions (level 2/3 without `long_names`).
const ISO_MANGLE_MAX: usize = 31;

/// Why a name cannot be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    TooLong,
    TooManyCollisions,
}

/// The name as xorriso sees it in the C locale: ASCII bytes stay, every other byte
/// (each byte of a UTF-8 sequence, or a stray byte) becomes one `_`.
fn ascii_of(name: &[u8]) -> Vec<u8> {
    name.iter()
        .map(|&c| if c.is_ascii() { c } else { b'_' })
        .collect()
}

fn d_char(c: u8) -> u8 {
    let u = c.to_ascii_uppercase();
    if u.is_ascii_digit() || u.is_ascii_uppercase() || u == b'_' {
        u
    } else {
        b'_'
    }
}

/// ISO 9660 level 3 identifier (without `;1`): at most 30 characters plus the
/// dot; the extension is cut to 3 characters when the whole name is longer than 31.
/// Files always get a dot, directories only before an extension. `full_ascii`
/// (what xorriso enables when the last El Torito image is patched with a boot info
/// table) keeps every ASCII character as is; otherwise names are upper-cased
/// d-characters.
pub fn iso_name(name: &[u8], is_dir: bool, full_ascii: bool) -> Result<Vec<u8>, NameProblem> {
    let src = ascii_of(name);
    let len = 30usize;
    let forcedot = !is_dir;
    let map = |c: u8| -> u8 {
        if c == b'/' {
            b'_'
        } else if full_ascii {
            c
        } else {
            d_char(c)
        }
    };
    let dot = src.iter().rposition(|&c| c == b'.');
    let (lname, lnname, lnext) = match dot {
        Some(d) if d + 1 < src.len() => {
            let lext = src.len() - d - 1;
            let lname = d;
            let lnext = if src.len() > len + 1 && lext > 3 {
                if lname < len - 3 {
                    len - lname
                } else {
                    3
                }
            } else {
                lext
            };
            let lnname = if src.len() > len + 1 {
                len - lnext
            } else {
                lname
            };
            (lname, lnname, lnext)
        }
        _ => (src.len(), src.len().min(len), 0),
    };
    if lnname == 0 && lnext == 0 {
        return Err(NameProblem::Empty);
    }
    let mut out: Vec<u8> = src[..lnname].iter().map(|&c| map(c)).collect();
    if lnext > 0 || forcedot {
        out.push(b'.');
    }
    if lnext > 0 {
        out.extend(src[lname + 1..lname + 1 + lnext].iter().map(|&c| map(c)));
    }
    Ok(out)
}

/// UCS-2 of the C-locale name: one unit per byte.
fn to_ucs2(name: &[u8]) -> Vec<u16> {
    ascii_of(name).into_iter().map(u16::from).collect()
}

fn valid_j(c: u16) -> bool {
    c >= 0x20 && !matches!(c, 0x2a | 0x2f | 0x3a | 0x3b | 0x3f | 0x5c)
}

fn j_map(c: u16) -> u16 {
    if valid_j(c) {
        c
    } else {
        b'_' as u16
    }
}

/// Joliet identifier of a file (no forced dot, no version).
pub fn joliet_file_name(name: &[u8]) -> Result<Vec<u16>, NameProblem> {
    let src = to_ucs2(name);
    let max = JOLIET_MAX;
    let dot = src.iter().rposition(|&c| c == b'.' as u16);
    let (lname, lnname, lnext) = match dot {
        Some(d) if d + 1 < src.len() => {
            let lext = src.len() - d - 1;
            let lname = d;
            let lnext = if src.len() > max + 1 && lext > 3 {
                if lname < max - 3 {
                    max - lname
                } else {
                    3
                }
            } else {
                lext
            };
            let lnname = if src.len() > max + 1 {
                max - lnext
            } else {
                lname
            };
            (lname, lnname, lnext)
        }
        _ => (src.len(), src.len().min(max), 0),
    };
    if lnname == 0 && lnext == 0 {
        return Err(NameProblem::Empty);
    }
    let mut out: Vec<u16> = src[..lnname].iter().map(|&c| j_map(c)).collect();
    if lnext == 0 {
        return Ok(out);
    }
    out.push(b'.' as u16);
    out.extend(src[lname + 1..lname + 1 + lnext].iter().map(|&c| j_map(c)));
    Ok(out)
}

/// Joliet identifier of a directory.
pub fn joliet_dir_name(name: &[u8]) -> Result<Vec<u16>, NameProblem> {
    let src = to_ucs2(name);
    if src.is_empty() {
        return Err(NameProblem::Empty);
    }
    let len = src.len().min(JOLIET_MAX);
    Ok(src[..len].iter().map(|&c| j_map(c)).collect())
}

/// Makes the ISO names of one directory unique the way libisofs does: every member
/// of a group of equal names gets a decimal number inserted before its extension,
/// the lowest number not yet taken. `names[i]` is (name, is_dir); the slice must be
/// sorted by name (stable from the original order). Returns true if a name changed.
pub fn mangle_iso(names: &mut [(Vec<u8>, bool)]) -> Result<bool, NameProblem> {
    let mut table: HashSet<Vec<u8>> = names.iter().map(|n| n.0.clone()).collect();
    let mut changed = false;
    let n = names.len();
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && names[j + 1].0 == names[i].0 {
            j += 1;
        }
        if j == i {
            i += 1;
            continue;
        }
        let mut digits = 1usize;
        loop {
            if digits >= 8 {
                return Err(NameProblem::TooManyCollisions);
            }
            let mut full: Vec<u8> = names[i].0.clone();
            full.truncate(39);
            let dot = full.iter().rposition(|&c| c == b'.');
            let (base, ext): (Vec<u8>, Option<Vec<u8>>) = match dot {
                Some(d) => {
                    let mut ext = full[d + 1..].to_vec();
                    let mut extlen = ext.len() as isize;
                    let mut max = ISO_MANGLE_MAX as isize - extlen - 1 - digits as isize;
                    if max <= 0 {
                        if extlen + max > 3 {
                            extlen = extlen + max - 1;
                            ext.truncate(extlen as usize);
                            max = ISO_MANGLE_MAX as isize - extlen - 1 - digits as isize;
                        } else {
                            return Err(NameProblem::TooManyCollisions);
                        }
                    }
                    let mut base = full[..d].to_vec();
                    if (max as usize) < base.len() {
                        base.truncate(max as usize);
                    }
                    (base, Some(ext))
                }
                None => {
                    let max = ISO_MANGLE_MAX - digits;
                    let mut base = full.clone();
                    base.truncate(max);
                    (base, None)
                }
            };
            let mut ok = true;
            let mut change: u64 = 0;
            let limit = 10u64.pow(digits as u32);
            #[allow(clippy::needless_range_loop)]
            for k in i..=j {
                let cand = loop {
                    let mut t = base.clone();
                    t.extend(format!("{:0width$}", change, width = digits).bytes());
                    if let Some(e) = &ext {
                        t.push(b'.');
                        t.extend_from_slice(e);
                    }
                    change += 1;
                    if change > limit {
                        ok = false;
                        break None;
                    }
                    if !table.contains(&t) {
                        break Some(t);
                    }
                };
                match cand {
                    Some(t) => {
                        let old = std::mem::replace(&mut names[k].0, t.clone());
                        table.remove(&old);
                        table.insert(t);
                        changed = true;
                    }
                    None => break,
                }
            }
            if ok {
                break;
            }
            digits += 1;
        }
        i = j + 1;
    }
    Ok(changed)
}

/// The Joliet counterpart of [`mangle_iso`] (103 characters, dots only separate
/// extensions of files).
pub fn mangle_joliet(names: &mut [(Vec<u16>, bool)]) -> Result<bool, NameProblem> {
    let mut table: HashSet<Vec<u16>> = names.iter().map(|n| n.0.clone()).collect();
    let mut changed = false;
    let n = names.len();
    let maxchar = JOLIET_MAX as isize;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && names[j + 1].0 == names[i].0 {
            j += 1;
        }
        if j == i {
            i += 1;
            continue;
        }
        let mut digits = 1usize;
        loop {
            if digits >= 8 {
                return Err(NameProblem::TooManyCollisions);
            }
            let full = names[i].0.clone();
            let is_dir = names[i].1;
            let dot = full.iter().rposition(|&c| c == b'.' as u16);
            let (base, ext): (Vec<u16>, Vec<u16>) = match dot {
                Some(d) if !is_dir => {
                    let mut ext = full[d + 1..].to_vec();
                    let mut base = full[..d].to_vec();
                    let mut max = maxchar - ext.len() as isize - digits as isize;
                    if max <= 0 {
                        max = (d > 0) as isize;
                        let extlen = maxchar - max - digits as isize;
                        if extlen < 3 {
                            return Err(NameProblem::TooManyCollisions);
                        }
                        ext.truncate(extlen as usize);
                    }
                    if (max as usize) < base.len() {
                        base.truncate(max as usize);
                    }
                    (base, ext)
                }
                _ => {
                    let max = (maxchar - digits as isize) as usize;
                    let mut base = full.clone();
                    base.truncate(max);
                    (base, Vec::new())
                }
            };
            let mut ok = true;
            let mut change: u64 = 0;
            let limit = 10u64.pow(digits as u32);
            #[allow(clippy::needless_range_loop)]
            for k in i..=j {
                let cand = loop {
                    let mut t = base.clone();
                    t.extend(
                        format!("{:0width$}", change, width = digits)
                            .bytes()
                            .map(u16::from),
                    );
                    if !ext.is_empty() {
                        t.push(b'.' as u16);
                        t.extend_from_slice(&ext);
                    }
                    change += 1;
                    if change > limit {
                        ok = false;
                        break None;
                    }
                    if !table.contains(&t) {
                        break Some(t);
                    }
                };
                match cand {
                    Some(t) => {
                        let old = std::mem::replace(&mut names[k].0, t.clone());
                        table.remove(&old);
                        table.insert(t);
                        changed = true;
                    }
                    None => break,
                }
            }
            if ok {
                break;
            }
            digits += 1;
        }
        i = j + 1;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(n: &[u8]) -> Vec<u8> {
        iso_name(n, false, false).unwrap()
    }

    #[test]
    fn file_names() {
        assert_eq!(f(b"f.txt"), b"F.TXT");
        assert_eq!(f(b"empty"), b"EMPTY.");
        assert_eq!(f(b".bashrc"), b".BASHRC");
        assert_eq!(f(b"a.b.c"), b"A_B.C");
        assert_eq!(f("é.txt".as_bytes()), b"__.TXT");
        assert_eq!(f(b"\xff\xfe"), b"__.");
        let long = f(b"abcdefghijklmnopqrstuvwxyz0123456789.longext");
        assert_eq!(long, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0.LON");
        assert_eq!(iso_name(b"a.b.c", false, true).unwrap(), b"a.b.c");
        assert_eq!(iso_name(b"vmlinuz", false, true).unwrap(), b"vmlinuz.");
    }

    #[test]
    fn dir_names() {
        assert_eq!(iso_name(b"a", true, false).unwrap(), b"A");
        assert_eq!(iso_name(b"a.d", true, false).unwrap(), b"A.D");
        assert_eq!(iso_name(b"isolinux", true, true).unwrap(), b"isolinux");
    }

    #[test]
    fn collisions_get_numbers() {
        let mut v = vec![(b"A.TXT".to_vec(), false), (b"A.TXT".to_vec(), false)];
        mangle_iso(&mut v).unwrap();
        assert_eq!(v[0].0, b"A0.TXT");
        assert_eq!(v[1].0, b"A1.TXT");
    }

    #[test]
    fn joliet_keeps_case_and_drops_nothing_short() {
        let j = joliet_file_name(b"Hello.txt").unwrap();
        assert_eq!(String::from_utf16(&j).unwrap(), "Hello.txt");
        let j = joliet_file_name(b"noext").unwrap();
        assert_eq!(String::from_utf16(&j).unwrap(), "noext");
        let j = joliet_file_name("Grüße.txt".as_bytes()).unwrap();
        assert_eq!(String::from_utf16(&j).unwrap(), "Gr____e.txt");
        assert!(joliet_file_name(b"").is_err());
    }
}
