use super::*;

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.005
}

#[test]
fn parses_only_six_digit_hex_colours() {
    for (input, expected) in [
        ("#2456d6", Some([0x24, 0x56, 0xd6])),
        ("#2456D6", Some([0x24, 0x56, 0xd6])),
        ("#000000", Some(BLACK)),
        ("#ffffff", Some(WHITE)),
        ("2456d6", None),
        ("#245", None),
        ("#2456d6ff", None),
        ("#2456dg", None),
        ("#+12345", None),
        ("rgb(1,2,3)", None),
        ("blue", None),
        ("", None),
        ("#", None),
        ("#é23456", None),
    ] {
        assert_eq!(parse_hex_colour(input), expected, "{input:?}");
    }
}

#[test]
fn relative_luminance_follows_wcag() {
    assert!(close(relative_luminance(BLACK), 0.0));
    assert!(close(relative_luminance(WHITE), 1.0));
    // Pure primaries weigh by the WCAG coefficients.
    assert!(close(relative_luminance([255, 0, 0]), 0.2126));
    assert!(close(relative_luminance([0, 255, 0]), 0.7152));
    assert!(close(relative_luminance([0, 0, 255]), 0.0722));
    // Below the 0.04045 knee the curve is linear: 10/255/12.92.
    assert!((relative_luminance([10, 10, 10]) - 10.0 / 255.0 / 12.92).abs() < 1e-9);
    assert!(close(relative_luminance([0x24, 0x56, 0xd6]), 0.1189));
}

#[test]
fn contrast_ratios_of_known_pairs() {
    for (colour, expected) in [
        (BLACK, 21.0),
        (WHITE, 1.0),
        ([0x76, 0x76, 0x76], 4.54), // the lightest grey that passes AA on white
        ([0x77, 0x77, 0x77], 4.48), // and the first that fails
        ([0xff, 0x00, 0x00], 4.00),
        ([0x24, 0x56, 0xd6], 6.22), // logi's own light accent
        ([0x8f, 0xb0, 0xff], 2.14), // logi's dark-scheme accent: too light on white
    ] {
        let ratio = contrast_ratio(colour, WHITE);
        assert!(close(ratio, expected), "{colour:?}: {ratio}");
        assert_eq!(ratio, contrast_ratio(WHITE, colour), "symmetric");
    }
}

#[test]
fn the_accent_must_be_a_colour_readable_on_white() {
    assert_eq!(check_accent("#767676").unwrap(), [0x76; 3]);
    let e = check_accent("#777777").unwrap_err().to_string();
    assert!(
        e.contains("brand_accent") && e.contains("4.47:1") && e.contains("4.5:1"),
        "{e}"
    );
    let e = check_accent("#8fb0ff").unwrap_err().to_string();
    assert!(e.contains("2.13:1"), "{e}");
    let e = check_accent("teal").unwrap_err().to_string();
    assert!(
        e.contains("brand_accent") && e.contains("not a colour"),
        "{e}"
    );
}

#[test]
fn the_hover_shade_is_darker_and_still_readable() {
    for rgb in [
        [0x24, 0x56, 0xd6],
        [0x76, 0x76, 0x76],
        [0x0a, 0x7d, 0x32],
        BLACK,
    ] {
        let hover = darker(rgb);
        assert!(relative_luminance(hover) <= relative_luminance(rgb));
        assert!(contrast_ratio(hover, WHITE) >= contrast_ratio(rgb, WHITE));
    }
    assert_eq!(darker([100, 255, 0]), [80, 204, 0]);
}

#[test]
fn the_stylesheet_sets_the_light_scheme_only() {
    let sheet = accent_stylesheet([0x0a, 0x7d, 0x32]);
    assert!(sheet
        .css
        .contains("@media not all and (prefers-color-scheme: dark) { :root { --accent: #0a7d32; --accent-hover: #086428; --link: #0a7d32; --focus: #0a7d32; } }"), "{}", sheet.css);
    assert_eq!(sheet.version.len(), 12);
    assert_ne!(sheet.version, accent_stylesheet([0x0a, 0x7d, 0x33]).version);
}

#[test]
fn logos_are_png_or_svg_by_content() {
    assert_eq!(
        logo_content_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
        Some("image/png")
    );
    assert_eq!(
        logo_content_type(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
        Some("image/svg+xml")
    );
    assert_eq!(
        logo_content_type(
            "\u{feff}\n<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>"
                .as_bytes()
        ),
        Some("image/svg+xml")
    );
    for other in [
        &b"GIF89a"[..],
        b"\xff\xd8\xff\xe0 JFIF",
        b"<html><body>no image</body></html>",
        b"svg but not xml",
        b"",
        b"\x89PNG but not the signature",
    ] {
        assert_eq!(logo_content_type(other), None, "{other:?}");
    }
}
