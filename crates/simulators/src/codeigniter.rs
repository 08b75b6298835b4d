//! CodeIgniter's stock error views (`application/errors/*.php` of CodeIgniter 2/3, the framework
//! SICANTIK runs on), rendered as the framework prints them. The simulator injects them as
//! faults; the connector's tests parse them. See `shared/spec/sicantik-api.md` §1.

/// `errors/error_php.php`: printed inline where a notice, warning or deprecation happens, with
/// the response status unchanged.
pub fn php_error(severity: &str, message: &str, filename: &str, line: u32) -> String {
    format!(
        "<div style=\"border:1px solid #990000;padding-left:20px;margin:0 0 10px 0;\">\n\n\
         <h4>A PHP Error was encountered</h4>\n\n\
         <p>Severity: {severity}</p>\n\
         <p>Message:  {message}</p>\n\
         <p>Filename: {filename}</p>\n\
         <p>Line Number: {line}</p>\n\n\
         </div>"
    )
}

/// A notice as SICANTIK's API controller produces one on a row with a missing key.
pub fn php_notice() -> String {
    php_error(
        "Notice",
        "Undefined index: d_berlaku_izin",
        "controllers/api.php",
        412,
    )
}

/// A deprecation as PHP 7 prints for the old REST_Controller.
pub fn php_deprecated() -> String {
    php_error(
        "8192",
        "Methods with the same name as their class will not be constructors in a future version of PHP; REST_Controller has a deprecated constructor",
        "libraries/REST_Controller.php",
        12,
    )
}

fn page(title: &str, heading: &str, message: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<title>{title}</title>\n\
         <style type=\"text/css\">\n\n::selection{{ background-color: #E13300; color: white; }}\n\
         body {{ background-color: #fff; margin: 40px; font: 13px/20px normal Helvetica, Arial, sans-serif; color: #4F5155; }}\n\
         h1 {{ color: #444; background-color: transparent; border-bottom: 1px solid #D0D0D0; font-size: 19px; font-weight: normal; margin: 0 0 14px 0; padding: 14px 15px 10px 15px; }}\n\
         #container {{ margin: 10px; border: 1px solid #D0D0D0; box-shadow: 0 0 8px #D0D0D0; }}\n\
         </style>\n</head>\n<body>\n\t<div id=\"container\">\n\t\t<h1>{heading}</h1>\n\t\t{message}\t</div>\n</body>\n</html>"
    )
}

/// `errors/error_db.php` (status 500 from the framework, 200 behind some proxies).
pub fn database_error() -> String {
    page(
        "Database Error",
        "A Database Error Occurred",
        "<p>Error Number: 2006</p><p>MySQL server has gone away</p>\
         <p>SELECT a.pendaftaran_id, b.n_pemohon FROM tmpermohonan a LIMIT 100, 100</p>\
         <p>Filename: models/api_model.php</p><p>Line Number: 88</p>",
    )
}

/// `errors/error_general.php`.
pub fn general_error() -> String {
    page(
        "Error",
        "An Error Was Encountered",
        "<p>The URI you submitted has disallowed characters.</p>",
    )
}

/// `errors/error_404.php`.
pub fn page_not_found() -> String {
    page(
        "404 Page Not Found",
        "404 Page Not Found",
        "<p>The page you requested was not found.</p>",
    )
}
