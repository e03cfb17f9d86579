import Analysis
import CytoModel
import Gating
import Labs
import Pipeline
import Records
import Review
import SafeXML
import Store
import Testing

/// libxml2's SAX2 hands attribute values with `&amp;` back as `&#38;` when entities are not
/// substituted; SafeXML must give the character (found on FlowJo's `CD107a+ &amp; IFNg+`).
@Test("attribute values decode &amp;, &#38;, &lt; and character references; text too")
func attributeEntities() throws {
    let doc = "<a n=\"x &amp; y &lt; &#65; &quot; &#38; &amp;#38;\" b='&amp;&amp;'>t &amp; u</a>"
    let node = try XMLNode.parse(try XMLEventReader(bytes: Array(doc.utf8), name: "m"))
    #expect(node.attribute("n") == "x & y < A \" & &#38;")
    #expect(node.attribute("b") == "&&")
    #expect(node.text == "t & u")
    let cursor = try XMLEventReader(bytes: Array(doc.utf8), name: "m")
    _ = try cursor.advance()
    #expect(try cursor.attribute(cursor.token("b")) == "&&")
}
