//! The pattern syntax Docker checks before it matches anything.

/// The syntax Go's `filepath.Match` accepts, which Docker checks first:
/// a `\` escapes the next character and must have one; a class `[...]` may
/// start with `^`, holds at least one character or range, and a range's ends
/// are characters (not `-` or `]`) in order.
pub(super) fn check_syntax(pattern: &str) -> Result<(), &'static str> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let escaped = |i: &mut usize| -> Result<char, &'static str> {
        match chars.get(*i) {
            None => Err("unclosed character class `[`"),
            Some('-') | Some(']') => Err("a character class needs a character before `-` or `]`"),
            Some('\\') => {
                *i += 1;
                let c = chars.get(*i).copied().ok_or("a `\\` at the end escapes nothing")?;
                *i += 1;
                Ok(c)
            }
            Some(&c) => {
                *i += 1;
                Ok(c)
            }
        }
    };
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return Err("a `\\` at the end escapes nothing");
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if chars.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut ranges = 0;
                loop {
                    if chars.get(i) == Some(&']') && ranges > 0 {
                        i += 1;
                        break;
                    }
                    let low = escaped(&mut i)?;
                    if chars.get(i) == Some(&'-') {
                        i += 1;
                        let high = escaped(&mut i)?;
                        if high < low {
                            return Err("a character range runs backwards");
                        }
                    }
                    ranges += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}
