//! System Use Sharing Protocol fields for Rock Ridge (RRIP 1.10 as xorriso's
//! `old_rr` compliance writes them): PX without inode number, TF with three
//! 7-byte times, NM, SL, and the continuation areas (CE) they overflow into.
//!
//! The placement rules follow libisofs: a directory record holds at most 254
//! bytes; if NM/SL do not fit, a 28-byte CE is reserved and the rest goes to the
//! directory's continuation area, which never lets one node's part straddle a
//! block boundary (it is padded to the next block instead).

pub const BLOCK: usize = 2048;
const CE_SIZE: usize = 28;

/// SUSP fields of one directory record plus its share of the continuation area.
#[derive(Debug, Default)]
pub struct SuspInfo {
    /// Fields inside the directory record, in order.
    pub sua: Vec<Vec<u8>>,
    /// Fields of the directory's continuation area (an empty vec = pad to block end).
    pub ce: Vec<Vec<u8>>,
    /// Bytes of continuation area used so far in this directory.
    pub ce_len: usize,
    /// First block of this directory's continuation area.
    pub ce_block: u32,
    current_ce_start: usize,
}

impl SuspInfo {
    pub fn new(ce_block: u32) -> SuspInfo {
        SuspInfo {
            ce_block,
            ..Default::default()
        }
    }

    #[cfg(test)]
    pub fn sua_len(&self) -> usize {
        let l: usize = self.sua.iter().map(|f| f.len()).sum();
        l + (l % 2)
    }

    fn append_ce(&mut self, data: Vec<u8>) {
        let is_pad = data.is_empty();
        if !is_pad && (self.ce_len + data.len() + CE_SIZE - 1) / BLOCK != self.ce_len / BLOCK {
            let ce = make_ce(self.ce_block + (self.ce_len / BLOCK) as u32 + 1, 0, 2048);
            self.ce.push(ce);
            self.ce_len += CE_SIZE;
            if self.ce_len % BLOCK != 0 {
                self.ce.push(Vec::new());
                self.ce_len += BLOCK - self.ce_len % BLOCK;
            }
        }
        if is_pad {
            if self.ce_len % BLOCK != 0 {
                self.ce_len += BLOCK - self.ce_len % BLOCK;
            }
        } else {
            self.ce_len += data.len();
        }
        self.ce.push(data);
    }

    fn add_ce_entry(&mut self) {
        let block = self.ce_block + (self.ce_len / BLOCK) as u32;
        let off = (self.ce_len % BLOCK) as u32;
        self.sua.push(make_ce(block, off, 0));
    }

    /// Sets the size fields of this node's CE entries from what follows them.
    fn update_ce_sizes(&mut self) {
        if self.ce.len() == self.current_ce_start {
            return;
        }
        let Some(first) = self.sua.iter().position(|f| f.starts_with(b"CE")) else {
            return;
        };
        // (which list, index) of the CE being sized
        let mut cur: (bool, usize) = (false, first);
        let mut pos = 0usize;
        for i in self.current_ce_start..self.ce.len() {
            let f = &self.ce[i];
            if f.is_empty() {
                pos = 0;
                continue;
            }
            let flen = f.len();
            if f.starts_with(b"CE") {
                let mut size = (pos + flen) % BLOCK;
                if size == 0 {
                    size = BLOCK;
                }
                self.set_ce_size(cur, size as u32);
                cur = (true, i);
            }
            pos = (pos + flen) % BLOCK;
        }
        if pos > 0 {
            self.set_ce_size(cur, (pos % BLOCK) as u32);
        }
    }

    fn set_ce_size(&mut self, at: (bool, usize), size: u32) {
        let f = if at.0 {
            &mut self.ce[at.1]
        } else {
            &mut self.sua[at.1]
        };
        bb32(&mut f[20..28], size);
    }

    /// Starts the fields of a new directory record.
    pub fn begin(&mut self) {
        self.sua.clear();
        self.current_ce_start = self.ce.len();
    }

    /// Ends a record: fixes CE sizes.
    pub fn finish(&mut self) {
        self.update_ce_sizes();
    }
}

pub fn bb32(buf: &mut [u8], v: u32) {
    buf[0..4].copy_from_slice(&v.to_le_bytes());
    buf[4..8].copy_from_slice(&v.to_be_bytes());
}

pub fn bb16(buf: &mut [u8], v: u16) {
    buf[0..2].copy_from_slice(&v.to_le_bytes());
    buf[2..4].copy_from_slice(&v.to_be_bytes());
}

fn make_ce(block: u32, off: u32, size: u32) -> Vec<u8> {
    let mut d = vec![0u8; 28];
    d[0] = b'C';
    d[1] = b'E';
    d[2] = 28;
    d[3] = 1;
    bb32(&mut d[4..12], block);
    bb32(&mut d[12..20], off);
    bb32(&mut d[20..28], size);
    d
}

pub fn sp() -> Vec<u8> {
    vec![b'S', b'P', 7, 1, 0xbe, 0xef, 0]
}

pub fn px(mode: u32, nlink: u32, uid: u32, gid: u32) -> Vec<u8> {
    let mut d = vec![0u8; 36];
    d[..4].copy_from_slice(&[b'P', b'X', 36, 1]);
    bb32(&mut d[4..12], mode);
    bb32(&mut d[12..20], nlink);
    bb32(&mut d[20..28], uid);
    bb32(&mut d[28..36], gid);
    d
}

pub fn tf(time7: [u8; 7]) -> Vec<u8> {
    let mut d = vec![b'T', b'F', 26, 1, 0x0e];
    for _ in 0..3 {
        d.extend_from_slice(&time7);
    }
    d
}

pub const ER_TEXT_ID: &[u8] = b"RRIP_1991A";
pub const ER_TEXT_DES: &[u8] =
    b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
pub const ER_TEXT_SRC: &[u8] = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";

fn er() -> Vec<u8> {
    let mut d = vec![b'E', b'R', 237, 1, 10, 84, 135, 1];
    d.extend_from_slice(ER_TEXT_ID);
    d.extend_from_slice(ER_TEXT_DES);
    d.extend_from_slice(ER_TEXT_SRC);
    debug_assert_eq!(d.len(), 237);
    d
}

fn nm(name: &[u8], flags: u8) -> Vec<u8> {
    let mut d = vec![b'N', b'M', (name.len() + 5) as u8, 1, flags];
    d.extend_from_slice(name);
    d
}

/// Fields of the "." (`dot` = true) or ".." record: PX and TF of the directory
/// meant; the root's "." also gets SP first and a CE pointing at the RRIP ER.
pub fn dot_fields(info: &mut SuspInfo, root_dot: bool, px_f: Vec<u8>, tf_f: Vec<u8>) {
    info.begin();
    if root_dot {
        info.sua.push(sp());
    }
    info.sua.push(px_f);
    info.sua.push(tf_f);
    if root_dot {
        info.add_ce_entry();
        info.append_ce(er());
    }
    info.finish();
}

/// Splits a symlink target into (flags, bytes) components the RRIP way.
fn sl_components(dest: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut prev = 0usize;
    loop {
        let cur = dest[prev..]
            .iter()
            .position(|&c| c == b'/')
            .map(|p| p + prev);
        let comp = match cur {
            Some(c) => &dest[prev..c],
            None => &dest[prev..],
        };
        let (flag, bytes): (u8, &[u8]) = if comp == b"." {
            (0x02, b"")
        } else if comp == b".." {
            (0x04, b"")
        } else if comp.is_empty() {
            (0x08, b"")
        } else {
            (0, comp)
        };
        out.push((flag, bytes));
        match cur {
            None => break,
            Some(c) if c + 1 >= dest.len() => break,
            Some(c) => prev = c + 1,
        }
    }
    out
}

fn add_to_ce(ce: &mut usize, base: usize, add: usize, cross: bool) {
    if cross && (*ce + base + add + CE_SIZE - 1) / BLOCK != (*ce + base) / BLOCK {
        *ce += CE_SIZE;
        if (*ce + base) % BLOCK != 0 {
            *ce += BLOCK - (*ce + base) % BLOCK;
        }
    }
    *ce += add;
}

/// Predicts whether NM and SL fit into `space`; mirrors the three attempts
/// libisofs makes (no CE, CE without block crossing, CE aligned to a block).
/// Returns 1 fits, 0 try next mode, -1 no room even for the CE.
fn calc_nm_sl(
    name: &[u8],
    link: Option<&[u8]>,
    space: usize,
    su: &mut usize,
    ce: &mut usize,
    base_ce: usize,
    mut flag: u8,
) -> i32 {
    let su_mem = *su;
    let ce_mem = *ce;
    macro_rules! unannounced {
        () => {{
            *su = su_mem;
            *ce = ce_mem;
            return 0;
        }};
    }
    if *ce > 0 && flag & 1 == 0 {
        unannounced!();
    }
    let mut prepad = 0;
    if flag & 2 != 0 {
        flag |= 1;
        if base_ce % BLOCK != 0 {
            prepad = BLOCK - base_ce % BLOCK;
        }
    }
    let cross = flag & 2 != 0;
    let mut namelen = name.len();
    if flag & 1 != 0 {
        if *su + 28 > space {
            *ce += prepad;
            return -1;
        }
        *su += 28;
    }
    if *su + 5 + namelen <= space {
        *su += 5 + namelen;
    } else {
        if flag & 1 == 0 {
            unannounced!();
        }
        namelen -= space - *su - 5;
        add_to_ce(ce, base_ce, 5 + namelen, cross);
        *su = space;
    }
    if let Some(dest) = link {
        let mut sl_len = 5usize;
        let mut cew = *ce != 0;
        for (_, comp) in sl_components(dest) {
            let clen = comp.len() + 2;
            if !cew {
                if *su + sl_len + clen > space {
                    if flag & 1 == 0 {
                        unannounced!();
                    }
                    cew = true;
                } else {
                    sl_len += clen;
                }
            }
            if cew {
                if sl_len + clen > 255 {
                    if clen > 250 {
                        let fit = 255isize - sl_len as isize - 2;
                        if (clen as isize - 250) <= fit {
                            add_to_ce(ce, base_ce, 255, cross);
                            sl_len = 5 + (clen - fit as usize);
                        } else {
                            add_to_ce(ce, base_ce, sl_len, cross);
                            add_to_ce(ce, base_ce, 255, cross);
                            sl_len = 5 + (clen - 250) + 2;
                        }
                    } else {
                        add_to_ce(ce, base_ce, sl_len, cross);
                        sl_len = 5 + clen;
                    }
                } else {
                    sl_len += clen;
                }
            }
        }
        if !cew {
            *su += sl_len;
        } else {
            add_to_ce(ce, base_ce, sl_len, cross);
        }
    }
    if *ce > 0 && flag & 1 == 0 {
        unannounced!();
    }
    *ce += prepad;
    if *ce > 0 && flag & 2 == 0 && base_ce / BLOCK != (base_ce + *ce + CE_SIZE - 1) / BLOCK {
        *su = su_mem;
        *ce = ce_mem;
        return 0;
    }
    1
}

fn sl_field(comps: &[Vec<u8>], cont: bool) -> Vec<u8> {
    let total: usize = comps.iter().map(|c| c.len()).sum();
    let mut d = vec![b'S', b'L', (total + 5) as u8, 1, cont as u8];
    for c in comps {
        d.extend_from_slice(c);
    }
    d
}

fn comp(flag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut c = vec![flag, bytes.len() as u8];
    c.extend_from_slice(bytes);
    c
}

/// Fields of an ordinary directory record. `used_up` is the record length without
/// SUSP fields; `name` the Rock Ridge name; `link` the symlink target if any.
pub fn entry_fields(
    info: &mut SuspInfo,
    used_up: usize,
    px_f: Vec<u8>,
    tf_f: Vec<u8>,
    name: &[u8],
    link: Option<&[u8]>,
) {
    info.begin();
    let space = 254 - used_up - (used_up % 2);
    info.sua.push(px_f);
    info.sua.push(tf_f);
    let suf_len: usize = 62;
    let mut sua_free = space - suf_len;
    let mut su_pd = suf_len;
    let mut ce_pd = 0usize;
    let mut ce_predicted = false;
    let mut ret = calc_nm_sl(name, link, space, &mut su_pd, &mut ce_pd, info.ce_len, 0);
    if ret == 0 {
        ret = calc_nm_sl(name, link, space, &mut su_pd, &mut ce_pd, info.ce_len, 1);
        if ret == 0 {
            calc_nm_sl(name, link, space, &mut su_pd, &mut ce_pd, info.ce_len, 3);
        }
        sua_free = sua_free.saturating_sub(28);
        ce_predicted = true;
    }
    let namelen = name.len();
    let mut ce_len = 0usize;
    let nm_split = 5 + namelen > sua_free;
    let mut nm_ce_part = 0usize;
    if !nm_split {
        sua_free -= 5 + namelen;
    } else {
        nm_ce_part = namelen - (sua_free - 5);
        ce_len = 5 + nm_ce_part;
        sua_free = 0;
    }
    let mut comps: Vec<(Vec<u8>, bool)> = Vec::new(); // (component, starts new SL)
    if let Some(dest) = link {
        let mut sl_len = 5usize;
        let mut cew = nm_split;
        for (cflag, c) in sl_components(dest) {
            let clen = c.len() + 2;
            if !cew {
                if sl_len + clen > sua_free {
                    cew = true;
                } else {
                    comps.push((comp(cflag, c), false));
                    sl_len += clen;
                }
            }
            if cew {
                if sl_len + clen > 255 {
                    if clen > 250 {
                        let fit = 255isize - sl_len as isize - 2;
                        if (clen as isize - 250) <= fit {
                            let fit = fit as usize;
                            comps.push((comp(0x01, &c[..fit]), false));
                            comps.push((comp(0, &c[fit..]), false));
                            ce_len += 255;
                            sl_len = 5 + (clen - fit);
                        } else {
                            comps.push((comp(0x01, &c[..248]), false));
                            comps.push((comp(0, &c[248..]), false));
                            ce_len += sl_len + 255;
                            sl_len = 5 + (clen - 250) + 2;
                        }
                    } else {
                        comps.push((comp(cflag, c), false));
                        ce_len += sl_len;
                        sl_len = 5 + clen;
                    }
                } else {
                    comps.push((comp(cflag, c), false));
                    sl_len += clen;
                }
            }
        }
        if cew {
            ce_len += sl_len;
        }
    }
    let nm_sua_len;
    if !nm_split {
        info.sua.push(nm(name, 0));
        nm_sua_len = namelen;
    } else {
        nm_sua_len = space - suf_len - 28 * (ce_predicted as usize) - 5;
        info.sua.push(nm(&name[..nm_sua_len], 1));
    }
    if ce_predicted {
        if info.ce_len % BLOCK != 0
            && (info.ce_len + ce_pd).saturating_sub(1) / BLOCK != info.ce_len / BLOCK
        {
            info.append_ce(Vec::new());
        }
        info.add_ce_entry();
    }
    if nm_split {
        info.append_ce(nm(&name[nm_sua_len..], 0));
    }
    let _ = nm_ce_part;
    if link.is_some() {
        add_sl(info, &comps, ce_len > 0);
    }
    info.finish();
}

/// Packs components into SL fields of at most 255 bytes (CONTINUE on all but last).
fn add_sl(info: &mut SuspInfo, comps: &[(Vec<u8>, bool)], to_ce: bool) {
    let mut total = 0usize;
    let mut written = 0usize;
    for i in 0..comps.len() {
        total += comps[i].0.len();
        if total > 250 {
            let f = sl_field(
                &comps[written..i]
                    .iter()
                    .map(|c| c.0.clone())
                    .collect::<Vec<_>>(),
                true,
            );
            info.append_ce(f);
            written = i;
            total = comps[i].0.len();
        }
    }
    let f = sl_field(
        &comps[written..]
            .iter()
            .map(|c| c.0.clone())
            .collect::<Vec<_>>(),
        false,
    );
    if to_ce {
        info.append_ce(f);
    } else {
        info.sua.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_name_stays_in_record() {
        let mut info = SuspInfo::new(100);
        entry_fields(
            &mut info,
            40,
            px(0o100444, 1, 0, 0),
            tf([0; 7]),
            b"abc",
            None,
        );
        assert_eq!(info.sua.len(), 3);
        assert_eq!(info.ce_len, 0);
        assert_eq!(info.sua_len(), 36 + 26 + 8);
    }

    #[test]
    fn long_name_goes_to_continuation_area() {
        let mut info = SuspInfo::new(100);
        let name = vec![b'x'; 200];
        entry_fields(
            &mut info,
            34 + 32,
            px(0o100444, 1, 0, 0),
            tf([0; 7]),
            &name,
            None,
        );
        assert!(info.sua.iter().any(|f| f.starts_with(b"CE")));
        assert!(info.ce_len > 0);
        let ce = info.sua.iter().find(|f| f.starts_with(b"CE")).unwrap();
        let size = u32::from_le_bytes(ce[20..24].try_into().unwrap()) as usize;
        assert_eq!(size, info.ce_len);
    }

    #[test]
    fn symlink_components() {
        let c = sl_components(b"/a/../b/");
        assert_eq!(c.len(), 4);
        assert_eq!(c[0].0, 0x08);
        assert_eq!(c[2].0, 0x04);
    }
}
