//! The branding hook: the product name, logo and accent colour an operator sets in the
//! configuration (`brand_name`, `brand_logo_path`, `brand_accent`), checked and loaded once at
//! start. The HTTP layer serves what this produces (`/assets/brand-logo`, `/assets/brand.css`)
//! and names them in every page; nothing here knows about HTTP.

use sha2::{Digest, Sha256};

use super::{invalid, Config, ConfigError};

/// The largest logo logi serves: pages load it on every sign-in.
pub const MAX_LOGO_BYTES: usize = 100 * 1024;

/// The least contrast the accent must have against white: white button text sits on it and it
/// colours links on the white card (WCAG 2.2 AA for normal text, 1.4.3).
pub const MIN_ACCENT_CONTRAST: f64 = 4.5;

const MAX_NAME_CHARS: usize = 60;

/// What the pages show, loaded and checked once at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Brand {
    pub name: String,
    pub logo: Option<Logo>,
    /// The stylesheet that overrides the light scheme's accent (`brand_accent` set).
    pub stylesheet: Option<Stylesheet>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logo {
    pub bytes: Vec<u8>,
    /// `image/png` or `image/svg+xml`.
    pub content_type: &'static str,
    /// A short hash of the bytes: pages link `…?v=<version>`, so the file may be cached for long
    /// and a new logo still shows after a restart.
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stylesheet {
    pub css: String,
    pub version: String,
}

impl Default for Brand {
    fn default() -> Self {
        Brand {
            name: "logi".into(),
            logo: None,
            stylesheet: None,
        }
    }
}

impl Brand {
    /// Checks the `brand_*` keys and reads the logo (at most [`MAX_LOGO_BYTES`], a PNG or an
    /// SVG file). Every failure names its key.
    pub fn load(config: &Config) -> Result<Brand, ConfigError> {
        let name = config.brand_name.trim();
        if name.is_empty() {
            return Err(invalid("brand_name", "must not be empty"));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(invalid(
                "brand_name",
                format!("must be at most {MAX_NAME_CHARS} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid("brand_name", "must not contain control characters"));
        }
        let stylesheet = match config.brand_accent.trim() {
            "" => None,
            accent => Some(accent_stylesheet(check_accent(accent)?)),
        };
        let logo = match config.brand_logo_path.trim() {
            "" => None,
            path => Some(read_logo(std::path::Path::new(path))?),
        };
        Ok(Brand {
            name: name.to_string(),
            logo,
            stylesheet,
        })
    }
}

/// An sRGB colour.
pub type Rgb = [u8; 3];

/// `#rrggbb` (hex digits in either case); nothing else.
pub fn parse_hex_colour(s: &str) -> Option<Rgb> {
    let hex = s.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([channel(0)?, channel(2)?, channel(4)?])
}

/// WCAG 2.2 relative luminance: 0 for black, 1 for white.
pub fn relative_luminance(rgb: Rgb) -> f64 {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2])
}

/// WCAG 2.2 contrast ratio of two colours, from 1 (same luminance) to 21 (black on white).
pub fn contrast_ratio(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (relative_luminance(a), relative_luminance(b));
    let (light, dark) = if la >= lb { (la, lb) } else { (lb, la) };
    (light + 0.05) / (dark + 0.05)
}

/// The hover shade of the accent: each channel scaled to 80 %, so darker, and so at least as
/// readable against white as the accent itself.
pub fn darker(rgb: Rgb) -> Rgb {
    rgb.map(|c| ((u16::from(c) * 4 + 2) / 5) as u8)
}

fn hex(rgb: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2])
}

fn check_accent(s: &str) -> Result<Rgb, ConfigError> {
    let rgb = parse_hex_colour(s).ok_or_else(|| {
        invalid(
            "brand_accent",
            format!("{s:?} is not a colour like #2456d6"),
        )
    })?;
    let ratio = contrast_ratio(rgb, [255, 255, 255]);
    if ratio < MIN_ACCENT_CONTRAST {
        return Err(invalid(
            "brand_accent",
            format!(
                "{s} has a contrast of {:.2}:1 against white; buttons (white text on the accent) \
                 and links need at least {MIN_ACCENT_CONTRAST}:1 (WCAG 2.2 AA): choose a darker \
                 colour",
                (ratio * 100.0).floor() / 100.0
            ),
        ));
    }
    Ok(rgb)
}

/// `/assets/brand.css`: the accent of the light scheme only. The dark scheme keeps logi's own
/// palette: it is tuned separately (a light accent under dark text on a dark card), and a colour
/// dark enough for white text is, by that very check, too dark to read on the dark card.
pub fn accent_stylesheet(rgb: Rgb) -> Stylesheet {
    let (accent, hover) = (hex(rgb), hex(darker(rgb)));
    let css = format!(
        "/* Generated by logi from brand_accent: the light scheme's accent. The dark scheme keeps \
         logi's own palette, tuned separately. */\n\
         @media not all and (prefers-color-scheme: dark) {{ :root {{ --accent: {accent}; \
         --accent-hover: {hover}; --link: {accent}; --focus: {accent}; }} }}\n"
    );
    let version = short_hash(css.as_bytes());
    Stylesheet { css, version }
}

fn short_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What kind of image `bytes` are: PNG by its signature, SVG by an `<svg` root element in
/// UTF-8 text; anything else is refused.
pub fn logo_content_type(bytes: &[u8]) -> Option<&'static str> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.starts_with(PNG) {
        return Some("image/png");
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.trim_start_matches('\u{feff}').trim_start();
    (text.starts_with('<') && text.contains("<svg")).then_some("image/svg+xml")
}

fn read_logo(path: &std::path::Path) -> Result<Logo, ConfigError> {
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| invalid("brand_logo_path", format!("cannot read {shown}: {e}")))?;
    if !meta.is_file() {
        return Err(invalid("brand_logo_path", format!("{shown} is not a file")));
    }
    if meta.len() > MAX_LOGO_BYTES as u64 {
        return Err(invalid(
            "brand_logo_path",
            format!(
                "{shown} is {} bytes; a logo may be at most {MAX_LOGO_BYTES} bytes (100 KiB)",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| invalid("brand_logo_path", format!("cannot read {shown}: {e}")))?;
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(invalid(
            "brand_logo_path",
            format!("{shown} is larger than {MAX_LOGO_BYTES} bytes (100 KiB)"),
        ));
    }
    let content_type = logo_content_type(&bytes).ok_or_else(|| {
        invalid(
            "brand_logo_path",
            format!("{shown} is neither a PNG nor an SVG image"),
        )
    })?;
    let version = short_hash(&bytes);
    Ok(Logo {
        bytes,
        content_type,
        version,
    })
}

#[cfg(test)]
mod tests;
