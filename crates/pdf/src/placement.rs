//! Where the QR stamp can go without covering the letter: the page's visible area (CropBox within
//! MediaBox) as the reader sees it (`/Rotate` applied), and the marks the page already carries —
//! text, images, painted paths, form XObjects and annotations — read from its content streams.
//! The estimate is conservative (glyph boxes from the font's widths or one em, a form's whole
//! bounding box when its content cannot be read); clipping is not applied, so content that a clip
//! hides still counts as there. White fills (page backgrounds, as Chromium and cairo paint them)
//! are not content.

use lopdf::content::{Content, Operation};
use lopdf::{Dictionary, Document, Object, ObjectId};

/// An axis-aligned rectangle (x0 ≤ x1, y0 ≤ y1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    fn from_points(points: impl IntoIterator<Item = (f64, f64)>) -> Option<Rect> {
        let mut it = points
            .into_iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite());
        let (x, y) = it.next()?;
        let mut r = Rect {
            x0: x,
            y0: y,
            x1: x,
            y1: y,
        };
        for (x, y) in it {
            r.x0 = r.x0.min(x);
            r.y0 = r.y0.min(y);
            r.x1 = r.x1.max(x);
            r.y1 = r.y1.max(y);
        }
        Some(r)
    }

    fn grow(self, by: f64) -> Rect {
        Rect {
            x0: self.x0 - by,
            y0: self.y0 - by,
            x1: self.x1 + by,
            y1: self.y1 + by,
        }
    }

    fn overlaps(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }

    fn width(&self) -> f64 {
        self.x1 - self.x0
    }

    fn height(&self) -> f64 {
        self.y1 - self.y0
    }

    fn corners(&self) -> [(f64, f64); 4] {
        [
            (self.x0, self.y0),
            (self.x1, self.y0),
            (self.x0, self.y1),
            (self.x1, self.y1),
        ]
    }
}

/// A PDF transformation matrix `[a b c d e f]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Matrix(pub [f64; 6]);

impl Matrix {
    const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    fn apply(&self, (x, y): (f64, f64)) -> (f64, f64) {
        let [a, b, c, d, e, f] = self.0;
        (a * x + c * y + e, b * x + d * y + f)
    }

    /// `self` first, then `then` (PDF's `self × then`).
    fn then(&self, then: &Matrix) -> Matrix {
        let [a, b, c, d, e, f] = self.0;
        let [a2, b2, c2, d2, e2, f2] = then.0;
        Matrix([
            a * a2 + b * c2,
            a * b2 + b * d2,
            c * a2 + d * c2,
            c * b2 + d * d2,
            e * a2 + f * c2 + e2,
            e * b2 + f * d2 + f2,
        ])
    }

    fn rect(&self, r: &Rect) -> Option<Rect> {
        Rect::from_points(r.corners().map(|p| self.apply(p)))
    }
}

/// The page as the reader sees it: the visible box in user space and the quarter turns the
/// viewer applies (clockwise, `/Rotate`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageView {
    pub visible: Rect,
    pub rotate: u16,
}

impl PageView {
    /// Width and height as displayed.
    pub fn size(&self) -> (f64, f64) {
        let (w, h) = (self.visible.width(), self.visible.height());
        if self.rotate % 180 == 90 {
            (h, w)
        } else {
            (w, h)
        }
    }

    /// The user-space bounds of a `w` × `h` box whose bottom-left corner is at display point
    /// (`x`, `y`).
    pub fn user_rect(&self, x: f64, y: f64, w: f64, h: f64) -> Rect {
        let m = self.draw_at(x, y);
        let r = Rect {
            x0: 0.0,
            y0: 0.0,
            x1: w,
            y1: h,
        };
        m.rect(&r).unwrap_or(r)
    }

    /// User space → display space (origin at the displayed page's bottom-left corner).
    fn display_matrix(&self) -> Matrix {
        let Rect { x0, y0, x1, y1 } = self.visible;
        match self.rotate {
            90 => Matrix([0.0, -1.0, 1.0, 0.0, -y0, x1]),
            180 => Matrix([-1.0, 0.0, 0.0, -1.0, x1, y1]),
            270 => Matrix([0.0, 1.0, -1.0, 0.0, y1, -x0]),
            _ => Matrix([1.0, 0.0, 0.0, 1.0, -x0, -y0]),
        }
    }

    /// The `cm` that draws a form upright with its origin at display point (`dx`, `dy`).
    pub fn draw_at(&self, dx: f64, dy: f64) -> Matrix {
        let Rect { x0, y0, x1, y1 } = self.visible;
        match self.rotate {
            90 => Matrix([0.0, 1.0, -1.0, 0.0, x1 - dy, y0 + dx]),
            180 => Matrix([-1.0, 0.0, 0.0, -1.0, x1 - dx, y1 - dy]),
            270 => Matrix([0.0, -1.0, 1.0, 0.0, x0 + dy, y1 - dx]),
            _ => Matrix([1.0, 0.0, 0.0, 1.0, x0 + dx, y0 + dy]),
        }
    }
}

fn number(o: &Object) -> Option<f64> {
    o.as_float().ok().map(f64::from)
}

fn numbers(doc: &Document, o: &Object) -> Option<Vec<f64>> {
    let (_, o) = doc.dereference(o).ok()?;
    let items = o.as_array().ok()?;
    items
        .iter()
        .map(|i| doc.dereference(i).ok().and_then(|(_, v)| number(v)))
        .collect()
}

fn rect_of(doc: &Document, o: &Object) -> Option<Rect> {
    match numbers(doc, o)?.as_slice() {
        [a, b, c, d] => Rect::from_points([(*a, *b), (*c, *d)]),
        _ => None,
    }
}

/// A page attribute, inherited through the page tree (MediaBox, CropBox, Rotate, Resources).
fn inherited<'a>(doc: &'a Document, page_id: ObjectId, key: &[u8]) -> Option<&'a Object> {
    let mut node = doc.get_dictionary(page_id).ok()?;
    for _ in 0..32 {
        if let Ok(v) = node.get(key) {
            return Some(v);
        }
        let parent = node.get(b"Parent").and_then(Object::as_reference).ok()?;
        node = doc.get_dictionary(parent).ok()?;
    }
    None
}

/// The page's visible area and rotation.
pub fn page_view(doc: &Document, page_id: ObjectId) -> PageView {
    let letter = Rect {
        x0: 0.0,
        y0: 0.0,
        x1: 612.0,
        y1: 792.0,
    };
    let media = inherited(doc, page_id, b"MediaBox")
        .and_then(|o| rect_of(doc, o))
        .filter(|r| r.width() > 1.0 && r.height() > 1.0)
        .unwrap_or(letter);
    let visible = inherited(doc, page_id, b"CropBox")
        .and_then(|o| rect_of(doc, o))
        .map(|c| Rect {
            x0: c.x0.max(media.x0),
            y0: c.y0.max(media.y0),
            x1: c.x1.min(media.x1),
            y1: c.y1.min(media.y1),
        })
        .filter(|r| r.width() > 1.0 && r.height() > 1.0)
        .unwrap_or(media);
    let rotate = inherited(doc, page_id, b"Rotate")
        .and_then(|o| doc.dereference(o).ok())
        .and_then(|(_, o)| o.as_i64().ok())
        .map_or(0, |r| r.rem_euclid(360) as u16 / 90 * 90);
    PageView { visible, rotate }
}

fn dict<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Dictionary> {
    match doc.dereference(o).ok()?.1 {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

/// What a font name in `Tf` stands for, as far as glyph boxes go.
struct FontInfo {
    /// Bytes per character code (2 for Type0 fonts with the usual Identity CMaps).
    code_bytes: usize,
    first_char: i64,
    widths: Vec<f64>,
    default_width: f64,
}

impl FontInfo {
    fn read(doc: &Document, font: &Dictionary) -> FontInfo {
        let type0 = font
            .get(b"Subtype")
            .and_then(Object::as_name)
            .is_ok_and(|n| n == b"Type0");
        if type0 {
            let dw = font
                .get(b"DescendantFonts")
                .ok()
                .and_then(|d| doc.dereference(d).ok())
                .and_then(|(_, d)| d.as_array().ok())
                .and_then(|a| a.first())
                .and_then(|d| dict(doc, d))
                .and_then(|d| d.get(b"DW").ok())
                .and_then(number)
                .unwrap_or(1000.0);
            return FontInfo {
                code_bytes: 2,
                first_char: 0,
                widths: Vec::new(),
                default_width: dw.max(1000.0),
            };
        }
        let widths = font
            .get(b"Widths")
            .ok()
            .and_then(|w| numbers(doc, w))
            .unwrap_or_default();
        let first_char = font
            .get(b"FirstChar")
            .ok()
            .and_then(|o| o.as_i64().ok())
            .unwrap_or(0);
        let missing = font
            .get(b"FontDescriptor")
            .ok()
            .and_then(|d| dict(doc, d))
            .and_then(|d| d.get(b"MissingWidth").ok())
            .and_then(number)
            .filter(|w| *w > 0.0);
        FontInfo {
            code_bytes: 1,
            first_char,
            widths,
            default_width: missing.unwrap_or(750.0),
        }
    }

    fn fallback() -> FontInfo {
        FontInfo {
            code_bytes: 1,
            first_char: 0,
            widths: Vec::new(),
            default_width: 1000.0,
        }
    }

    /// Glyph widths (thousandths of an em) of a shown string, and whether each code is a space.
    fn glyphs<'b>(&'b self, bytes: &'b [u8]) -> impl Iterator<Item = (f64, bool)> + 'b {
        bytes.chunks(self.code_bytes).map(move |c| {
            let code = c.iter().fold(0i64, |acc, b| acc << 8 | i64::from(*b));
            let w = usize::try_from(code - self.first_char)
                .ok()
                .and_then(|i| self.widths.get(i))
                .copied()
                .filter(|w| *w > 0.0)
                .unwrap_or(self.default_width);
            (w, self.code_bytes == 1 && code == 32)
        })
    }
}

/// A page's (or form's) named resources of one kind, nearest first.
fn resource<'a>(
    doc: &'a Document,
    resources: &[&'a Dictionary],
    kind: &[u8],
    name: &[u8],
) -> Option<&'a Object> {
    resources.iter().find_map(|r| {
        let group = dict(doc, r.get(kind).ok()?)?;
        group.get(name).ok()
    })
}

fn page_resources(doc: &Document, page_id: ObjectId) -> Vec<&Dictionary> {
    let Ok((direct, ids)) = doc.get_page_resources(page_id) else {
        return Vec::new();
    };
    direct
        .into_iter()
        .chain(ids.into_iter().filter_map(|id| doc.get_dictionary(id).ok()))
        .collect()
}

#[derive(Clone, Copy)]
struct Colour {
    /// Nonstroking (fill) colour is white.
    fill_white: bool,
    stroke_white: bool,
}

#[derive(Clone)]
struct GState {
    ctm: Matrix,
    colour: Colour,
    line_width: f64,
    fill_space: Space,
    stroke_space: Space,
}

#[derive(Clone, Copy, PartialEq)]
enum Space {
    Gray,
    Rgb,
    Cmyk,
    Other,
}

fn space_of(name: &[u8]) -> Space {
    match name {
        b"DeviceGray" | b"G" => Space::Gray,
        b"DeviceRGB" | b"RGB" => Space::Rgb,
        b"DeviceCMYK" | b"CMYK" => Space::Cmyk,
        _ => Space::Other,
    }
}

/// The colour space a `cs` / `CS` operation names.
fn named_space(op: &Operation) -> Space {
    op.operands
        .first()
        .and_then(|o| o.as_name().ok())
        .map_or(Space::Other, space_of)
}

fn is_white(space: Space, v: &[f64]) -> bool {
    const NEAR: f64 = 0.98;
    match (space, v) {
        (Space::Gray, [g]) => *g >= NEAR,
        (Space::Rgb, [r, g, b]) => *r >= NEAR && *g >= NEAR && *b >= NEAR,
        (Space::Cmyk, [c, m, y, k]) => c.max(*m).max(*y).max(*k) <= 1.0 - NEAR,
        _ => false,
    }
}

struct TextState {
    font: Option<FontInfo>,
    size: f64,
    char_spacing: f64,
    word_spacing: f64,
    scale: f64,
    leading: f64,
    rise: f64,
    render: i64,
    tm: Matrix,
    tlm: Matrix,
}

impl TextState {
    fn new() -> Self {
        TextState {
            font: None,
            size: 12.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            scale: 1.0,
            leading: 0.0,
            rise: 0.0,
            render: 0,
            tm: Matrix::IDENTITY,
            tlm: Matrix::IDENTITY,
        }
    }

    fn next_line(&mut self, tx: f64, ty: f64) {
        self.tlm = Matrix([1.0, 0.0, 0.0, 1.0, tx, ty]).then(&self.tlm);
        self.tm = self.tlm;
    }
}

/// Walks content streams and collects the marks they paint, in user space.
struct Marks<'a> {
    doc: &'a Document,
    found: Vec<Rect>,
    /// Operations read in all; a page that takes more is treated as covered where unread.
    budget: usize,
}

const MAX_FORM_DEPTH: usize = 6;
const MAX_OPERATIONS: usize = 400_000;

impl<'a> Marks<'a> {
    fn add(&mut self, ctm: &Matrix, r: Rect) {
        if let Some(r) = ctm.rect(&r) {
            self.found.push(r);
        }
    }

    fn walk(
        &mut self,
        ops: &[Operation],
        resources: &[&'a Dictionary],
        base: Matrix,
        depth: usize,
    ) {
        let mut gs = GState {
            ctm: base,
            colour: Colour {
                fill_white: false,
                stroke_white: false,
            },
            line_width: 1.0,
            fill_space: Space::Gray,
            stroke_space: Space::Gray,
        };
        let mut stack: Vec<GState> = Vec::new();
        let mut text = TextState::new();
        let mut path: Vec<(f64, f64)> = Vec::new();
        for op in ops {
            if self.budget == 0 {
                return;
            }
            self.budget -= 1;
            let n: Vec<f64> = op.operands.iter().filter_map(number).collect();
            match op.operator.as_str() {
                "q" => stack.push(gs.clone()),
                "Q" => {
                    if let Some(g) = stack.pop() {
                        gs = g;
                    }
                }
                "cm" if n.len() == 6 => {
                    gs.ctm = Matrix([n[0], n[1], n[2], n[3], n[4], n[5]]).then(&gs.ctm);
                }
                "w" if n.len() == 1 => gs.line_width = n[0].abs(),
                "g" => gs.colour.fill_white = is_white(Space::Gray, &n),
                "G" => gs.colour.stroke_white = is_white(Space::Gray, &n),
                "rg" => gs.colour.fill_white = is_white(Space::Rgb, &n),
                "RG" => gs.colour.stroke_white = is_white(Space::Rgb, &n),
                "k" => gs.colour.fill_white = is_white(Space::Cmyk, &n),
                "K" => gs.colour.stroke_white = is_white(Space::Cmyk, &n),
                "cs" => {
                    gs.fill_space = named_space(op);
                    gs.colour.fill_white = false;
                }
                "CS" => {
                    gs.stroke_space = named_space(op);
                    gs.colour.stroke_white = false;
                }
                "sc" | "scn" => gs.colour.fill_white = is_white(gs.fill_space, &n),
                "SC" | "SCN" => gs.colour.stroke_white = is_white(gs.stroke_space, &n),
                "m" | "l" if n.len() == 2 => path.push(gs.ctm.apply((n[0], n[1]))),
                "c" if n.len() == 6 => {
                    for p in n.chunks(2) {
                        path.push(gs.ctm.apply((p[0], p[1])));
                    }
                }
                "v" | "y" if n.len() == 4 => {
                    for p in n.chunks(2) {
                        path.push(gs.ctm.apply((p[0], p[1])));
                    }
                }
                "re" if n.len() == 4 => {
                    let r = Rect::from_points([(n[0], n[1]), (n[0] + n[2], n[1] + n[3])]);
                    if let Some(r) = r {
                        path.extend(r.corners().map(|p| gs.ctm.apply(p)));
                    }
                }
                "S" | "s" | "f" | "F" | "f*" | "B" | "B*" | "b" | "b*" => {
                    let stroke =
                        matches!(op.operator.as_str(), "S" | "s" | "B" | "B*" | "b" | "b*");
                    let fill = !matches!(op.operator.as_str(), "S" | "s");
                    let visible =
                        (stroke && !gs.colour.stroke_white) || (fill && !gs.colour.fill_white);
                    if visible && let Some(r) = Rect::from_points(path.iter().copied()) {
                        let half = if stroke {
                            gs.line_width * scale_of(&gs.ctm) / 2.0
                        } else {
                            0.0
                        };
                        self.found.push(r.grow(half.max(0.5)));
                    }
                    path.clear();
                }
                "n" => path.clear(),
                "sh" => {
                    // A shading fills the clip; the clip is not followed, so it covers the page.
                    self.found.push(Rect {
                        x0: f64::MIN / 4.0,
                        y0: f64::MIN / 4.0,
                        x1: f64::MAX / 4.0,
                        y1: f64::MAX / 4.0,
                    });
                }
                "BI" => self.add(
                    &gs.ctm,
                    Rect {
                        x0: 0.0,
                        y0: 0.0,
                        x1: 1.0,
                        y1: 1.0,
                    },
                ),
                "Do" => {
                    if let Some(name) = op.operands.first().and_then(|o| o.as_name().ok()) {
                        self.xobject(resources, name, &gs.ctm, depth);
                    }
                }
                "BT" => {
                    text.tm = Matrix::IDENTITY;
                    text.tlm = Matrix::IDENTITY;
                }
                "Tf" if op.operands.len() == 2 => {
                    text.size = op.operands.get(1).and_then(number).unwrap_or(12.0);
                    text.font = op
                        .operands
                        .first()
                        .and_then(|o| o.as_name().ok())
                        .and_then(|name| resource(self.doc, resources, b"Font", name))
                        .and_then(|f| dict(self.doc, f))
                        .map(|f| FontInfo::read(self.doc, f));
                }
                "Tc" if n.len() == 1 => text.char_spacing = n[0],
                "Tw" if n.len() == 1 => text.word_spacing = n[0],
                "Tz" if n.len() == 1 => text.scale = n[0] / 100.0,
                "TL" if n.len() == 1 => text.leading = n[0],
                "Ts" if n.len() == 1 => text.rise = n[0],
                "Tr" if n.len() == 1 => text.render = n[0] as i64,
                "Td" if n.len() == 2 => text.next_line(n[0], n[1]),
                "TD" if n.len() == 2 => {
                    text.leading = -n[1];
                    text.next_line(n[0], n[1]);
                }
                "Tm" if n.len() == 6 => {
                    text.tlm = Matrix([n[0], n[1], n[2], n[3], n[4], n[5]]);
                    text.tm = text.tlm;
                }
                "T*" => text.next_line(0.0, -text.leading),
                "Tj" | "TJ" | "'" | "\"" => {
                    if op.operator == "'" || op.operator == "\"" {
                        if op.operator == "\"" && n.len() >= 2 {
                            text.word_spacing = n[0];
                            text.char_spacing = n[1];
                        }
                        text.next_line(0.0, -text.leading);
                    }
                    self.show(&mut text, &gs.ctm, &op.operands);
                }
                _ => {}
            }
        }
    }

    /// Advances the text matrix over a shown string and records its box.
    fn show(&mut self, text: &mut TextState, ctm: &Matrix, operands: &[Object]) {
        let fallback = FontInfo::fallback();
        let font = text.font.as_ref().unwrap_or(&fallback);
        let mut advance = 0.0;
        let mut pieces: Vec<&Object> = Vec::new();
        for o in operands {
            match o {
                Object::Array(items) => pieces.extend(items.iter()),
                other => pieces.push(other),
            }
        }
        for p in pieces {
            match p {
                Object::String(bytes, _) => {
                    for (w, space) in font.glyphs(bytes) {
                        let spacing =
                            text.char_spacing + if space { text.word_spacing } else { 0.0 };
                        advance += (w / 1000.0 * text.size + spacing) * text.scale;
                    }
                }
                other => {
                    if let Some(adj) = number(other) {
                        advance -= adj / 1000.0 * text.size * text.scale;
                    }
                }
            }
        }
        // Rendering mode 3 paints nothing (OCR layers); 7 only clips.
        if text.render != 3 && text.render != 7 && advance != 0.0 {
            let s = text.size.abs();
            let glyphs =
                Rect::from_points([(0.0, text.rise - 0.3 * s), (advance, text.rise + 1.05 * s)]);
            if let Some(g) = glyphs {
                let to_user = text.tm.then(ctm);
                self.add(&to_user, g);
            }
        }
        text.tm = Matrix([1.0, 0.0, 0.0, 1.0, advance, 0.0]).then(&text.tm);
    }

    fn xobject(&mut self, resources: &[&'a Dictionary], name: &[u8], ctm: &Matrix, depth: usize) {
        let doc = self.doc;
        let Some(o) = resource(doc, resources, b"XObject", name) else {
            return;
        };
        let Ok((_, Object::Stream(stream))) = doc.dereference(o) else {
            return;
        };
        let subtype = stream
            .dict
            .get(b"Subtype")
            .and_then(Object::as_name)
            .unwrap_or(b"");
        if subtype == b"Image" {
            self.add(
                ctm,
                Rect {
                    x0: 0.0,
                    y0: 0.0,
                    x1: 1.0,
                    y1: 1.0,
                },
            );
            return;
        }
        if subtype != b"Form" {
            return;
        }
        let matrix = stream
            .dict
            .get(b"Matrix")
            .ok()
            .and_then(|m| numbers(doc, m))
            .filter(|m| m.len() == 6)
            .map_or(Matrix::IDENTITY, |m| {
                Matrix([m[0], m[1], m[2], m[3], m[4], m[5]])
            });
        let at = matrix.then(ctm);
        let bbox = stream.dict.get(b"BBox").ok().and_then(|b| rect_of(doc, b));
        let content = stream
            .decompressed_content()
            .ok()
            .and_then(|c| Content::decode(&c).ok());
        match content {
            Some(content) if depth < MAX_FORM_DEPTH => {
                let mut inner: Vec<&'a Dictionary> = Vec::new();
                if let Some(r) = stream
                    .dict
                    .get(b"Resources")
                    .ok()
                    .and_then(|r| dict(doc, r))
                {
                    inner.push(r);
                }
                // Forms without resources of their own use the page's (an older convention).
                inner.extend_from_slice(resources);
                let before = self.found.len();
                self.walk(&content.operations, &inner, at, depth + 1);
                // Nothing drawn outside the form's box shows (it clips).
                if let Some(clip) = bbox.and_then(|b| at.rect(&b)) {
                    for r in &mut self.found[before..] {
                        *r = Rect {
                            x0: r.x0.max(clip.x0),
                            y0: r.y0.max(clip.y0),
                            x1: r.x1.min(clip.x1),
                            y1: r.y1.min(clip.y1),
                        };
                    }
                    let kept: Vec<Rect> = self
                        .found
                        .drain(before..)
                        .filter(|r| r.x0 < r.x1 && r.y0 < r.y1)
                        .collect();
                    self.found.extend(kept);
                }
            }
            _ => {
                if let Some(b) = bbox {
                    self.add(&at, b);
                }
            }
        }
    }
}

/// How much a matrix scales lengths (for line widths).
fn scale_of(m: &Matrix) -> f64 {
    let [a, b, c, d, ..] = m.0;
    ((a * d - b * c).abs()).sqrt()
}

/// The boxes of everything page `page_id` shows, in user space: content streams (with their
/// forms), and annotations that are not hidden.
pub fn page_marks(doc: &Document, page_id: ObjectId) -> Vec<Rect> {
    let resources = page_resources(doc, page_id);
    let mut marks = Marks {
        doc,
        found: Vec::new(),
        budget: MAX_OPERATIONS,
    };
    match Content::decode(&doc.get_page_content(page_id)) {
        Ok(content) => marks.walk(&content.operations, &resources, Matrix::IDENTITY, 0),
        // Unreadable content: all of it may be anywhere.
        Err(_) => marks.found.push(page_view(doc, page_id).visible),
    }
    if marks.budget == 0 {
        marks.found.push(page_view(doc, page_id).visible);
    }
    let annots = doc
        .get_dictionary(page_id)
        .ok()
        .and_then(|p| p.get(b"Annots").ok())
        .and_then(|a| doc.dereference(a).ok())
        .and_then(|(_, a)| a.as_array().ok().cloned())
        .unwrap_or_default();
    for a in &annots {
        let Some(annot) = dict(doc, a) else { continue };
        let hidden = annot
            .get(b"F")
            .ok()
            .and_then(|f| f.as_i64().ok())
            .is_some_and(|f| f & 2 != 0);
        if let Some(r) = annot.get(b"Rect").ok().and_then(|r| rect_of(doc, r))
            && !hidden
            && r.width() > 0.0
            && r.height() > 0.0
        {
            marks.found.push(r);
        }
    }
    marks.found
}

/// Where a box of `w` × `h` (display points) was put.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spot {
    /// At the configured position, which is free.
    Configured { x: f64, y: f64 },
    /// Moved to the nearest free place in the page's lower half.
    Moved { x: f64, y: f64 },
    /// No free place: the configured position, over the letter's content.
    Covering { x: f64, y: f64 },
}

impl Spot {
    pub fn at(&self) -> (f64, f64) {
        match *self {
            Spot::Configured { x, y } | Spot::Moved { x, y } | Spot::Covering { x, y } => (x, y),
        }
    }
}

/// Keeps clear of content by this much.
const GAP: f64 = 4.0;
/// Keeps clear of the page's edge by this much (printers' unprintable margin).
const EDGE: f64 = 14.0;
const STEP: f64 = 6.0;

/// Finds a spot for a `w` × `h` box (display space, bottom-left corner), preferring
/// (`want_x`, `want_y`) and then the free spot nearest to it in the lower half of the page.
pub fn find_spot(
    view: &PageView,
    marks: &[Rect],
    w: f64,
    h: f64,
    want_x: f64,
    want_y: f64,
) -> Spot {
    find_spot_within(view, marks, w, h, want_x, want_y, 0.5)
}

/// [`find_spot`] within the lowest `band` (a fraction) of the page's height.
pub fn find_spot_within(
    view: &PageView,
    marks: &[Rect],
    w: f64,
    h: f64,
    want_x: f64,
    want_y: f64,
    band: f64,
) -> Spot {
    let (pw, ph) = view.size();
    let to_display = view.display_matrix();
    let taken: Vec<Rect> = marks
        .iter()
        .filter_map(|r| to_display.rect(r))
        .map(|r| r.grow(GAP))
        .filter(|r| r.x1 > 0.0 && r.y1 > 0.0 && r.x0 < pw && r.y0 < ph)
        .collect();
    let fits = |x: f64, y: f64| {
        let b = Rect {
            x0: x,
            y0: y,
            x1: x + w,
            y1: y + h,
        };
        x >= EDGE - 1e-6
            && y >= EDGE - 1e-6
            && b.x1 <= pw - EDGE + 1e-6
            && b.y1 <= ph - EDGE + 1e-6
            && !taken.iter().any(|t| t.overlaps(&b))
    };
    let want_x = want_x.clamp(EDGE, (pw - EDGE - w).max(EDGE));
    let want_y = want_y.clamp(EDGE, (ph - EDGE - h).max(EDGE));
    if fits(want_x, want_y) {
        return Spot::Configured {
            x: want_x,
            y: want_y,
        };
    }
    let mut best: Option<(f64, f64, f64)> = None;
    let mut y = EDGE;
    while y + h <= (ph * band).max(h + EDGE) && y + h <= ph - EDGE {
        let mut x = EDGE;
        while x + w <= pw - EDGE {
            if fits(x, y) {
                let d = (x - want_x).powi(2) + (y - want_y).powi(2);
                if best.is_none_or(|(bd, ..)| d < bd) {
                    best = Some((d, x, y));
                }
            }
            x += STEP;
        }
        y += STEP;
    }
    match best {
        Some((_, x, y)) => Spot::Moved { x, y },
        None => Spot::Covering {
            x: want_x,
            y: want_y,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(rotate: u16) -> PageView {
        PageView {
            visible: Rect {
                x0: 10.0,
                y0: 20.0,
                x1: 610.0,
                y1: 820.0,
            },
            rotate,
        }
    }

    #[test]
    fn drawing_lands_where_the_display_says() {
        for rotate in [0, 90, 180, 270] {
            let v = view(rotate);
            let (pw, ph) = v.size();
            for (dx, dy) in [(0.0, 0.0), (30.0, 40.0), (pw, ph)] {
                let user = v.draw_at(dx, dy).apply((0.0, 0.0));
                let back = v.display_matrix().apply(user);
                assert!(
                    (back.0 - dx).abs() < 1e-9 && (back.1 - dy).abs() < 1e-9,
                    "rotate {rotate}: {back:?}"
                );
                // Upright: the form's x axis runs along the display's x axis.
                let along = v
                    .display_matrix()
                    .apply(v.draw_at(dx, dy).apply((1.0, 0.0)));
                assert!(
                    (along.0 - dx - 1.0).abs() < 1e-9 && (along.1 - dy).abs() < 1e-9,
                    "rotate {rotate}"
                );
            }
        }
    }

    #[test]
    fn content_pushes_the_box_aside() {
        let v = PageView {
            visible: Rect {
                x0: 0.0,
                y0: 0.0,
                x1: 595.0,
                y1: 842.0,
            },
            rotate: 0,
        };
        assert_eq!(
            find_spot(&v, &[], 120.0, 140.0, 56.0, 72.0),
            Spot::Configured { x: 56.0, y: 72.0 }
        );
        let text = Rect {
            x0: 50.0,
            y0: 60.0,
            x1: 300.0,
            y1: 300.0,
        };
        match find_spot(&v, &[text], 120.0, 140.0, 56.0, 72.0) {
            Spot::Moved { x, y } => {
                let b = Rect {
                    x0: x,
                    y0: y,
                    x1: x + 120.0,
                    y1: y + 140.0,
                };
                assert!(!b.overlaps(&text.grow(GAP)), "{b:?}");
            }
            other => panic!("{other:?}"),
        }
        let full = Rect {
            x0: 0.0,
            y0: 0.0,
            x1: 595.0,
            y1: 842.0,
        };
        assert_eq!(
            find_spot(&v, &[full], 120.0, 140.0, 56.0, 72.0),
            Spot::Covering { x: 56.0, y: 72.0 }
        );
    }
}
