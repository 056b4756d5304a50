//! The argv/URL parser: any arguments give a target or one line of error, never a panic.
#![no_main]
use lab::gopher::url;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Split the input into up to four "arguments" at NUL bytes, as argv would arrive.
    let text = String::from_utf8_lossy(data);
    let args: Vec<String> = text.split('\0').take(4).map(str::to_string).collect();
    match url::parse_args(&args) {
        Ok(t) => {
            let req = t.request();
            assert!(req.ends_with(b"\r\n"));
            // CR/LF never reach the wire except as the request's own end.
            assert!(!req[..req.len() - 2].iter().any(|&b| b == b'\r' || b == b'\n'));
            // The canonical URL parses back to the same request.
            let back = url::parse_url(&t.url()).expect("own URL parses");
            assert_eq!(back.request(), req);
        }
        Err(e) => assert!(!e.to_string().contains('\n')),
    }
    let _ = url::parse_url(&text);
});
